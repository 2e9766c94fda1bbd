/* log — structured log lines: one JSON object per line on stderr.
 *
 * Never pass visitor personal data (e-mail, name, message) to these. */
#ifndef FOLIO_LOG_H
#define FOLIO_LOG_H

#include <cjson/cJSON.h>

/* Writes {"time":"...","level":LEVEL, ...fields} as one line (fields is
 * consumed: the call deletes it). Thread-safe: one write(2) per line. */
void log_json(const char *level, cJSON *fields);
/* {"time","level","msg"} for plain messages. */
void log_msg(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
