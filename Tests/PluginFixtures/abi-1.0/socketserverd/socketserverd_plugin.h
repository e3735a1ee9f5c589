/*
 * socketserverd_plugin.h: the handler plugin ABI of socketserverd, version 1. C99, no other deps.
 *
 * A plugin is a shared library (cc -shared -fPIC) that exports one function,
 *
 *     const ssd_plugin *socketserverd_plugin_entry(void);
 *
 * returning a description of its handlers. The daemon loads it with dlopen(RTLD_NOW | RTLD_LOCAL)
 * (in a checking child and in each worker, never in the master), calls the entry once per process,
 * checks `abi_version`, and never unloads it. Everything the entry returns, directly or through
 * pointers, must stay valid and unchanged while the library is loaded (static storage is ideal).
 *
 * Config:   [plugin NAME]  path = libNAME.so   (relative to [daemon] plugin_dir)
 *           [service S]    handler = NAME.HANDLER   plus the keys that handler declares.
 *
 * Callbacks may run concurrently on several threads of one worker (concurrency = threads) or in a
 * forked child of it (concurrency = fork); they must be thread-safe. SIGPIPE is ignored in workers.
 * A status other than SSD_OK is logged as an error for that request; it does not stop the worker.
 * A crash in a callback ends that worker only; the master replaces it (with crash back-off).
 */
#ifndef SOCKETSERVERD_PLUGIN_H
#define SOCKETSERVERD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. The daemon refuses a plugin whose abi_version differs. */
#define SSD_PLUGIN_ABI_VERSION 1u
/* The name of the entry symbol, for dlsym. */
#define SSD_PLUGIN_ENTRY_SYMBOL "socketserverd_plugin_entry"

/* Status a callback returns: SSD_OK, or any other value for "this request failed" (logged). */
#define SSD_OK 0

/* Log levels for ssd_request.log. */
#define SSD_LOG_DEBUG 0
#define SSD_LOG_INFO 1
#define SSD_LOG_WARNING 2
#define SSD_LOG_ERROR 3

/*
 * One request, as the daemon hands it to a callback. Valid only during that callback; the
 * pointers it returns (config values) stay valid for the life of the worker.
 */
typedef struct ssd_request ssd_request;
struct ssd_request {
    /* The service's name, from [service NAME]. */
    const char *service;
    /* The handler as the service names it: "PLUGIN.HANDLER". */
    const char *handler;
    /* The client: "127.0.0.1:40000", "[::1]:40000", a Unix socket path, or "" (unnamed Unix peer). */
    const char *client;
    /* The `data` pointer of this handler's ssd_handler. */
    void *handler_data;
    /*
     * The value of one of the handler's declared keys for this service: as written in the config,
     * or its default. NULL for a key the handler did not declare.
     */
    const char *(*config)(const ssd_request *request, const char *key);
    /* Writes one line to the daemon's log, prefixed with the service and client. level: SSD_LOG_*. */
    void (*log)(const ssd_request *request, int level, const char *message);
    /*
     * Datagram handlers only (NULL for streams): sends `length` bytes to the client as one datagram.
     * May be called any number of times. Returns 0, or -1 with errno set.
     */
    int (*reply)(const ssd_request *request, const void *bytes, size_t length);
    /* The daemon's own state for this request; do not touch. */
    void *daemon;
};

/*
 * A stream connection (tcp://, unix:). `fd` is the connected socket, in blocking mode, with
 * SO_RCVTIMEO/SO_SNDTIMEO set to the service's `timeout` (a silent client makes recv fail with
 * EAGAIN). Do not close it; the daemon closes it after the callback returns.
 */
typedef int (*ssd_stream_fn)(const ssd_request *request, int fd);

/* One datagram (udp://, unixgram:) of `length` bytes (`bytes` may be NULL when length is 0);
 * answer with request->reply. */
typedef int (*ssd_datagram_fn)(const ssd_request *request, const void *bytes, size_t length);

/*
 * Optional check of one key's value, called for every declared key of every service using the
 * handler (with the default filled in), by --check-config, on reload and when a worker starts.
 * Return 0 if the value is fine; otherwise write a NUL-terminated reason (no more than
 * `message_size` bytes, including the NUL) into `message` and return non-zero.
 */
typedef int (*ssd_validate_fn)(void *handler_data, const char *key, const char *value, char *message,
                               size_t message_size);

/* A config key a handler reads. Names use [a-z0-9_] and must not be one of the daemon's keys. */
typedef struct ssd_key {
    const char *name;
    /* The value when the service does not set the key; NULL makes the key required. */
    const char *default_value;
} ssd_key;

/* One handler, selected with `handler = PLUGIN.NAME`. At least one of stream/datagram is set. */
typedef struct ssd_handler {
    /* [A-Za-z0-9_-]+, unique within the plugin. */
    const char *name;
    const ssd_key *keys;
    size_t key_count;
    ssd_validate_fn validate;  /* may be NULL */
    ssd_stream_fn stream;      /* NULL: cannot serve stream listeners */
    ssd_datagram_fn datagram;  /* NULL: cannot serve datagram listeners */
    /* Passed back as ssd_request.handler_data and to validate. */
    void *data;
} ssd_handler;

/* What the entry returns. */
typedef struct ssd_plugin {
    /* Must be SSD_PLUGIN_ABI_VERSION. */
    uint32_t abi_version;
    /* The plugin's own name, for logs (the config's [plugin NAME] is what services use). */
    const char *name;
    const ssd_handler *handlers;
    size_t handler_count;
} ssd_plugin;

/* The entry every plugin exports. Called once per process, before any callback. */
typedef const ssd_plugin *(*ssd_plugin_entry_fn)(void);
const ssd_plugin *socketserverd_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* SOCKETSERVERD_PLUGIN_H */
