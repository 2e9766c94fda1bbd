/* web_accounts — the members' pages of folio-fcgi (web_accounts.h). */
#include "web_accounts.h"

#include <string.h>

/* A base64url token: the only characters a link of ours carries, so
 * nothing needs percent-decoding and anything else is refused. */
static int S_b64url(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

int web_accounts_query_token(const char *query, char *out, size_t cap)
{
    if (!query || !out || cap == 0)
        return -1;
    out[0] = '\0';
    for (const char *p = query; *p;) {
        size_t n = strcspn(p, "&;");
        if (n > 6 && !strncmp(p, "token=", 6)) {
            size_t len = n - 6;
            if (len >= cap || !S_b64url(p + 6, len))
                return -1;
            memcpy(out, p + 6, len);
            out[len] = '\0';
            return 0;
        }
        p += n;
        if (*p)
            p++;
    }
    return -1;
}
