"""A project's graph compiled into one keras.Model."""
