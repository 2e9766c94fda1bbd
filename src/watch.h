/* watch — "something in these folders changed", for folio serve (inotify).
 *
 * Trees are watched recursively, folders created later included (and what
 * was written into them before their watch existed). An editor's save is a
 * burst of events (temporary file, rename, attribute change): watch_wait
 * returns once the burst has been quiet for the debounce time. Editor
 * litter (dotfiles, name~, #name#, .swp, vim's 4913 probe) is ignored. */
#ifndef FOLIO_WATCH_H
#define FOLIO_WATCH_H

#include "util.h"

typedef struct watch watch;

int watch_open(watch **out, folio_err *err);
/* Watches dir and every folder below it. A missing dir is not an error
 * (a site may have no static/). */
int watch_add_tree(watch *w, const char *dir, folio_err *err);
/* Folders never to watch, even inside a watched tree (where folio writes:
 * var/, public/), so that a build cannot set off the next one. Call before
 * adding trees; up to 8. */
int watch_skip(watch *w, const char *dir, folio_err *err);
/* Watches one file (e.g. folio.yml), however an editor replaces it. */
int watch_add_file(watch *w, const char *path, folio_err *err);

/* Waits for a change. Returns 1 after a burst of changes has been quiet
 * for debounce_ms (the first changed path, relative to nothing, goes to
 * first when non-NULL: "templates/page.mustache"), 0 when watch_wake was
 * called, -1 on error. */
int watch_wait(watch *w, int debounce_ms, char *first, size_t firstlen,
               folio_err *err);
/* Every path the last burst of watch_wait named, in order (repeats
 * included), or NULL when it lost track of some (the kernel's queue
 * overflowed, or the burst named more than watch keeps): then anything
 * may have changed. Valid until the next watch_wait. */
const char *const *watch_changed(const watch *w, size_t *n);
/* Makes a watch_wait in another thread return 0 (for stopping). */
void watch_wake(watch *w);
void watch_close(watch *w);

#endif
