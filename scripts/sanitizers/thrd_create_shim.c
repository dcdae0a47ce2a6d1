// ThreadSanitizer and librdkafka: librdkafka 2.0 starts and joins its threads with C11
// thrd_create and thrd_join, which glibc implements without going through pthread_create and
// pthread_join, so the sanitizer never sees those threads start (it crashes in them: SEGV in its
// runtime) or end (a later thread with the same id trips its thread registry). Preloaded into a
// sanitized test run (scripts/tsan), these C11 functions go through the pthread functions, which
// the sanitizer intercepts. A C11 thread is a pthread in glibc; the start function's int result
// travels as the pthread's void * result.
#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <threads.h>

struct start {
    thrd_start_t function;
    void *argument;
};

static void *trampoline(void *raw) {
    struct start start = *(struct start *)raw;
    free(raw);
    return (void *)(intptr_t)start.function(start.argument);
}

int thrd_create(thrd_t *thread, thrd_start_t function, void *argument) {
    struct start *start = malloc(sizeof *start);
    if (start == NULL) return thrd_nomem;
    start->function = function;
    start->argument = argument;
    int result = pthread_create(thread, NULL, trampoline, start);
    if (result != 0) {
        free(start);
        return result == EAGAIN ? thrd_nomem : thrd_error;
    }
    return thrd_success;
}

int thrd_join(thrd_t thread, int *result) {
    void *value = NULL;
    if (pthread_join(thread, &value) != 0) return thrd_error;
    if (result != NULL) *result = (int)(intptr_t)value;
    return thrd_success;
}

int thrd_detach(thrd_t thread) {
    return pthread_detach(thread) == 0 ? thrd_success : thrd_error;
}

_Noreturn void thrd_exit(int result) {
    pthread_exit((void *)(intptr_t)result);
}
