"""Decoding one batch ahead of the consumer, in a thread, with bounded memory."""

from __future__ import annotations

import queue
import threading

from fastpose.video.readers import Batches


class Prefetch:
    """Runs a reader's batches one batch ahead in a thread, so decoding overlaps the consumer's work
    (PyAV, decord and OpenCV release the GIL) while memory stays bounded by the queue."""

    def __init__(self, batches: Batches, depth: int = 1) -> None:
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(batches,), daemon=True)
        self._thread.start()

    def _run(self, batches: Batches) -> None:
        try:
            for batch in batches:
                if not self._put("batch", batch):
                    return
            self._put("done", None)
        except BaseException as err:  # handed to the consumer, which raises it
            self._put("error", err)
        finally:
            batches.close()

    def _put(self, kind: str, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put((kind, item), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Batches:
        while True:
            kind, item = self._queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop the thread after the batch it is decoding; safe to call twice."""
        self._stop.set()
        self._thread.join()
