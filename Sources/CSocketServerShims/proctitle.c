/* Process titles, as nginx sets them: the kernel shows /proc/PID/cmdline (and so ps) from the
 * memory that held the argument strings, with the environment strings right after them. The
 * constructor below copies both to the heap and points argv, environ and glibc's
 * program_invocation_name at the copies; the original area is then free to hold a title. */
#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* The area a title may use: the argument strings and the environment strings that follow them
   without a gap. `args_end` is where the argument strings end. Empty until the constructor ran. */
static char *area_start;
static char *area_end;
static char *args_end;
/* The arguments the process started with (heap copies, so they outlive any title). */
static int original_argc;
static char **original_argv;

/* Points `*pointer` at the copy when it lies inside the original area. */
static void rebase(char **pointer, char *copy) {
    if (*pointer >= area_start && *pointer < area_end) *pointer = copy + (*pointer - area_start);
}

/* glibc calls ELF constructors with (argc, argv, envp), before main and before any thread exists.
   The copy is one allocation of the whole area, so every string keeps its offset; without memory
   the area stays empty and titles are not set. */
__attribute__((constructor)) static void cssd_capture_process_area(int argc, char **argv, char **envp) {
    if (argc <= 0 || argv == NULL || argv[0] == NULL) return;
    char *start = argv[0];
    char *end = start + strlen(start) + 1;
    for (int i = 1; i < argc && argv[i] == end; i++) end += strlen(end) + 1;
    char *arguments_end = end;
    for (int i = 0; envp != NULL && envp[i] != NULL && envp[i] == end; i++) end += strlen(end) + 1;
    char *copy = malloc((size_t)(end - start));
    if (copy == NULL) return;
    memcpy(copy, start, (size_t)(end - start));
    area_start = start;
    area_end = end;
    args_end = arguments_end;
    for (int i = 0; i < argc; i++) rebase(&argv[i], copy);
    /* environ is envp unless an earlier constructor called setenv; either way only its strings
       inside the area move (the pointer array itself lies outside it). */
    for (int i = 0; environ != NULL && environ[i] != NULL; i++) rebase(&environ[i], copy);
    if (envp != environ)
        for (int i = 0; envp != NULL && envp[i] != NULL; i++) rebase(&envp[i], copy);
    rebase(&program_invocation_name, copy);
    rebase(&program_invocation_short_name, copy);
    original_argc = argc;
    original_argv = argv;
}

int cssd_set_process_title(const char *title) {
    if (area_start == NULL || title == NULL) {
        errno = ENOSYS;
        return -1;
    }
    size_t room = (size_t)(area_end - area_start) - 1;
    size_t length = strlen(title);
    if (length > room) length = room;
    memcpy(area_start, title, length);
    /* NULs up to the end of the argument strings (the kernel then shows exactly the title), or,
       for a title that runs into the environment strings, one NUL after it (the kernel shows up to
       the first NUL). The environment strings past that are left as they are. */
    char *pad_end = area_start + length < args_end ? args_end : area_start + length + 1;
    memset(area_start + length, 0, (size_t)(pad_end - (area_start + length)));
    return 0;
}

int cssd_original_argc(void) { return original_argc; }

const char *cssd_original_argv(int index) {
    if (index < 0 || index >= original_argc) return NULL;
    return original_argv[index];
}
