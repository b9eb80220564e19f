"""Rendering the tracked people onto the source video: drawing (:mod:`~fastpose.render.draw`),
the source's frames at full size (:mod:`~fastpose.render.frames`) and H.264 encoding
(:mod:`~fastpose.render.encoder`). The sink that puts them together is
:class:`fastpose.sinks.render.VideoRenderer`."""
