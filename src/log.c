#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

void log_json(const char *level, cJSON *fields)
{
    char now[32];
    util_format_iso_ms(util_now_ms(), now);
    cJSON *line = cJSON_CreateObject();
    if (!line) {
        cJSON_Delete(fields);
        return;
    }
    cJSON_AddStringToObject(line, "time", now);
    cJSON_AddStringToObject(line, "level", level);
    if (fields) {
        cJSON *f;
        while ((f = fields->child) != NULL) {
            cJSON_DetachItemViaPointer(fields, f);
            cJSON_AddItemToObject(line, f->string, f);
        }
        cJSON_Delete(fields);
    }
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (!text)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL; cJSON's buffer is n + 1 bytes */
    ssize_t w = write(STDERR_FILENO, text, n + 1);
    (void)w;        /* nowhere to report a failed log write */
    free(text);
}

void log_msg(const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *f = cJSON_CreateObject();
    if (f)
        cJSON_AddStringToObject(f, "msg", msg);
    log_json(level, f);
}
