"""The recorder: cuts live camera streams into short MP4 segments and registers each as a clip.

See :mod:`backend.recorder.supervisor` for the process, :mod:`backend.recorder.segmenter` for one camera.
"""
