/* curl_dl — the libcurl calls folio makes, served by a libcurl opened on
 * first use (dlopen) instead of one linked into the program.
 *
 * Linked into `folio` only (folio-fcgi links libcurl as usual). libcurl
 * and the TLS, LDAP, SSH and HTTP/2 libraries it needs cost every command
 * ~10 ms and ~7 MiB of memory at start, which is a fifth of an incremental
 * `folio build`; only the mail and webhook commands use it. The contract is
 * curl.h's: each function here is libcurl's, with its errors when libcurl
 * cannot be opened (CURLE_FAILED_INIT, NULL handles, CURLUE_OUT_OF_MEMORY).
 *
 * A libcurl function folio starts to use and this file lacks still links:
 * against libcurl itself (folio keeps -lcurl, with --as-needed). */
#define CURL_DISABLE_TYPECHECK 1 /* the setopt macro would hide the function */
#include <curl/curl.h>

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "dl.h"

#define S_CURL_FNS(X)                                                                   \
    X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) X(curl_easy_cleanup)    \
    X(curl_easy_perform) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_strerror)  \
    X(curl_free) X(curl_slist_append) X(curl_slist_free_all) X(curl_url)                 \
    X(curl_url_cleanup) X(curl_url_get) X(curl_url_set) X(curl_multi_init)             \
    X(curl_multi_cleanup) X(curl_multi_setopt) X(curl_multi_add_handle)                  \
    X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_poll)                 \
    X(curl_multi_info_read)
#define S_DECL(f) __typeof__(&f) f;
static struct { S_CURL_FNS(S_DECL) } S_c;
#undef S_DECL

static pthread_once_t S_once = PTHREAD_ONCE_INIT;
static int S_ok;

static void S_open(void)
{
#define S_SYM(f) {#f, &S_c.f},
    static const dl_sym syms[] = {S_CURL_FNS(S_SYM)};
#undef S_SYM
    char msg[256];
    S_ok = dl_bind("libcurl.so.4", syms, sizeof syms / sizeof *syms, msg, sizeof msg) == 0;
}

static int S_have(void)
{
    return pthread_once(&S_once, S_open) == 0 && S_ok;
}

CURLcode curl_global_init(long flags)
{
    return S_have() ? S_c.curl_global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
    if (S_have())
        S_c.curl_global_cleanup();
}

CURL *curl_easy_init(void)
{
    return S_have() ? S_c.curl_easy_init() : NULL;
}

void curl_easy_cleanup(CURL *curl)
{
    if (curl && S_have())
        S_c.curl_easy_cleanup(curl);
}

CURLcode curl_easy_perform(CURL *curl)
{
    return S_have() ? S_c.curl_easy_perform(curl) : CURLE_FAILED_INIT;
}

/* The one argument's type follows from the option's number (curl.h's
 * CURLOPTTYPE_ ranges): a long, a pointer, a function or a curl_off_t. */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    if (!S_have())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = S_c.curl_easy_setopt(curl, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT)
        rc = S_c.curl_easy_setopt(curl, option, va_arg(ap, void *));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = S_c.curl_easy_setopt(curl, option, va_arg(ap, void (*)(void)));
    else if (option < CURLOPTTYPE_BLOB)
        rc = S_c.curl_easy_setopt(curl, option, va_arg(ap, curl_off_t));
    else
        rc = S_c.curl_easy_setopt(curl, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

/* Every CURLINFO_ takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    if (!S_have())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = S_c.curl_easy_getinfo(curl, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
    return S_have() ? S_c.curl_easy_strerror(code) : "libcurl (libcurl.so.4) cannot be opened";
}

void curl_free(void *p)
{
    if (p && S_have())
        S_c.curl_free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
    return S_have() ? S_c.curl_slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (list && S_have())
        S_c.curl_slist_free_all(list);
}

CURLU *curl_url(void)
{
    return S_have() ? S_c.curl_url() : NULL;
}

void curl_url_cleanup(CURLU *u)
{
    if (u && S_have())
        S_c.curl_url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
    return S_have() ? S_c.curl_url_get(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
    return S_have() ? S_c.curl_url_set(u, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

/* the multi interface: the kept-alive connections of src/curlpool.c */
CURLM *curl_multi_init(void)
{
    return S_have() ? S_c.curl_multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
    return S_have() ? S_c.curl_multi_cleanup(m) : CURLM_BAD_HANDLE;
}

/* Like curl_easy_setopt: the argument's type follows from the option's
 * number (CURLOPTTYPE_ ranges). */
CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...)
{
    if (!S_have())
        return CURLM_BAD_HANDLE;
    va_list ap;
    va_start(ap, option);
    CURLMcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = S_c.curl_multi_setopt(m, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT)
        rc = S_c.curl_multi_setopt(m, option, va_arg(ap, void *));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = S_c.curl_multi_setopt(m, option, va_arg(ap, void (*)(void)));
    else
        rc = S_c.curl_multi_setopt(m, option, va_arg(ap, curl_off_t));
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *e)
{
    return S_have() ? S_c.curl_multi_add_handle(m, e) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *e)
{
    return S_have() ? S_c.curl_multi_remove_handle(m, e) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    return S_have() ? S_c.curl_multi_perform(m, running) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd fds[], unsigned nfds, int ms, int *n)
{
    return S_have() ? S_c.curl_multi_poll(m, fds, nfds, ms, n) : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    return S_have() ? S_c.curl_multi_info_read(m, left) : NULL;
}
