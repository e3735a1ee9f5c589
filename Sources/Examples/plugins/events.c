/* An event-driven plugin (plugin ABI 1.1): handlers ev.echo and ev.count, for concurrency = events. */
#include <stdio.h>
#include <stdlib.h>
#include <socketserverd/socketserverd_plugin.h>

/* echo: every chunk back as it came. No state, nothing said first. */
static int echo_data(const ssd_request *request, void **state, const void *bytes, size_t length,
                     ssd_output *output) {
    (void)request, (void)state;
    return output->append(output, bytes, length) == 0 ? SSD_OK : SSD_FAILED;
}

/* count: says "ready", then answers each chunk with the bytes this connection has sent so far
   (its state); ends the connection once that reaches the service's `limit`. */
static int count_open(const ssd_request *request, void **state, ssd_output *output) {
    (void)request;
    unsigned long *seen = calloc(1, sizeof *seen);
    if (seen == NULL) return SSD_FAILED;
    *state = seen;
    return output->append(output, "ready\n", 6) == 0 ? SSD_OK : SSD_FAILED;
}

static int count_data(const ssd_request *request, void **state, const void *bytes, size_t length,
                      ssd_output *output) {
    (void)bytes;
    unsigned long *seen = *state;
    *seen += length;
    char line[32];
    int used = snprintf(line, sizeof line, "%lu\n", *seen);
    if (output->append(output, line, (size_t)used) != 0) return SSD_FAILED;
    return *seen >= strtoul(request->config(request, "limit"), NULL, 10) ? SSD_END : SSD_OK;
}

static void count_close(const ssd_request *request, void *state) {
    (void)request;
    free(state);
}

static const ssd_events echo_events = {NULL, echo_data, NULL};
static const ssd_events count_events = {count_open, count_data, count_close};
static const ssd_key count_keys[] = {{"limit", "1000"}};

static const ssd_handler handlers[] = {
    {"echo", NULL, 0, NULL, NULL, NULL, NULL, &echo_events},
    {"count", count_keys, 1, NULL, NULL, NULL, NULL, &count_events},
};
static const ssd_plugin plugin = {SSD_PLUGIN_ABI_VERSION, "events", handlers, 2};

const ssd_plugin *socketserverd_plugin_entry(void) { return &plugin; }
