"""Server defaults, kept apart from the app so `python -m ui --help` answers without loading Gradio."""

MAX_UPLOAD_MB = 50.0  # a query clip of a few minutes is well under this
CONCURRENCY = 2  # requests at once; the encoders are small, the CPU is what is shared
