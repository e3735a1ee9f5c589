// Built-in handlers.
