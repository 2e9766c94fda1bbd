/* jarena — cJSON's allocations in a per-thread arena.
 *
 * A build makes and drops a context tree per page and a replay a tree per
 * event: millions of small mallocs and frees. While a thread has entered
 * an arena, every cJSON allocation on that thread comes from it, and a
 * whole tree is dropped by jarena_reset. cJSON's hooks are process-wide:
 * jarena_hooks installs them (once; call it before starting threads).
 * Any other thread, and this one outside an arena, gets malloc and free.
 *
 * The arena grows by chained blocks and never hands out malloc memory, so
 * nothing made in it is owned elsewhere; in turn nothing made in it may
 * outlive a reset. Code that keeps a cJSON value or a cJSON_Print string
 * beyond the arena's work pauses the arena around making it, and frees a
 * cJSON_Print string with cJSON_free, never free. */
#ifndef FOLIO_JARENA_H
#define FOLIO_JARENA_H

#include <stddef.h>

typedef struct jarena jarena;

/* Installs the hooks, once per process. 0, or -1 when it could not. */
int jarena_hooks(void);

/* An arena whose first block (kept across resets) holds block bytes; NULL
 * when out of memory. */
jarena *jarena_new(size_t block);
void jarena_free(jarena *a);

/* This thread's cJSON allocations come from a (NULL: from malloc again). */
void jarena_enter(jarena *a);

/* The arena this thread's cJSON allocations come from now: NULL when it
 * has entered none, or is paused. */
jarena *jarena_current(void);

/* Drops everything made in a; later blocks go back to malloc. */
void jarena_reset(jarena *a);

/* Until jarena_resume, this thread's cJSON allocations come from malloc,
 * for values that must outlive the arena's work; freeing memory of the
 * arena stays a no-op. Returns what to pass to jarena_resume. */
int jarena_pause(void);
void jarena_resume(int paused);

/* What this thread has entered, paused or not: code that enters an arena
 * of its own while a caller's may be entered puts that one back after. */
typedef struct jarena_state {
    jarena *a;
    int paused;
} jarena_state;
jarena_state jarena_save(void);
void jarena_restore(jarena_state st);

#endif
