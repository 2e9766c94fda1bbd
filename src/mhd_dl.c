/* mhd_dl — the libmicrohttpd calls `folio serve` makes, served by a
 * libmicrohttpd opened on first use (dlopen) instead of one linked into
 * the program.
 *
 * libmicrohttpd brings GnuTLS and its helpers: ~3 MiB of memory and a few
 * milliseconds at the start of every folio command, though only `serve`
 * uses it. The contract is microhttpd.h's: each function here is
 * libmicrohttpd's, with its failures (NULL, MHD_NO) when the library
 * cannot be opened. A function serve starts to use and this file lacks
 * still links, against libmicrohttpd itself (--as-needed keeps it then). */
#include <microhttpd.h>

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "dl.h"

#define S_MHD_FNS(X)                                                                    \
    X(MHD_start_daemon_va) X(MHD_stop_daemon) X(MHD_lookup_connection_value)             \
    X(MHD_queue_response) X(MHD_create_response_from_buffer)                             \
    X(MHD_create_response_from_callback) X(MHD_create_response_from_fd64)                \
    X(MHD_destroy_response) X(MHD_add_response_header) X(MHD_get_connection_values)    \
    X(MHD_get_connection_info)
#define S_DECL(f) __typeof__(&f) f;
static struct { S_MHD_FNS(S_DECL) } S_m;
#undef S_DECL

static pthread_once_t S_once = PTHREAD_ONCE_INIT;
static int S_ok;

static void S_open(void)
{
#define S_SYM(f) {#f, &S_m.f},
    static const dl_sym syms[] = {S_MHD_FNS(S_SYM)};
#undef S_SYM
    char msg[256];
    S_ok = dl_bind("libmicrohttpd.so.12", syms, sizeof syms / sizeof *syms, msg, sizeof msg) == 0;
}

static int S_have(void)
{
    return pthread_once(&S_once, S_open) == 0 && S_ok;
}

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port,
                                    MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    if (!S_have())
        return NULL;
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = S_m.MHD_start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
    if (daemon && S_have())
        S_m.MHD_stop_daemon(daemon);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection,
                                        enum MHD_ValueKind kind, const char *key)
{
    return S_have() ? S_m.MHD_lookup_connection_value(connection, kind, key) : NULL;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection,
                                   unsigned int status_code, struct MHD_Response *response)
{
    return S_have() ? S_m.MHD_queue_response(connection, status_code, response) : MHD_NO;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    return S_have() ? S_m.MHD_create_response_from_buffer(size, buffer, mode) : NULL;
}

struct MHD_Response *MHD_create_response_from_callback(uint64_t size, size_t block_size,
                                                       MHD_ContentReaderCallback crc,
                                                       void *crc_cls,
                                                       MHD_ContentReaderFreeCallback crfc)
{
    return S_have() ? S_m.MHD_create_response_from_callback(size, block_size, crc, crc_cls,
                                                            crfc)
                    : NULL;
}

struct MHD_Response *MHD_create_response_from_fd64(uint64_t size, int fd)
{
    return S_have() ? S_m.MHD_create_response_from_fd64(size, fd) : NULL;
}

void MHD_destroy_response(struct MHD_Response *response)
{
    if (response && S_have())
        S_m.MHD_destroy_response(response);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
                                        const char *content)
{
    return S_have() ? S_m.MHD_add_response_header(response, header, content) : MHD_NO;
}

int MHD_get_connection_values(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator iterator, void *iterator_cls)
{
    return S_have() ? S_m.MHD_get_connection_values(connection, kind, iterator, iterator_cls)
                    : -1;
}

/* Only the kinds that take no further argument (the client's address). */
const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *connection,
                                                        enum MHD_ConnectionInfoType info_type,
                                                        ...)
{
    return S_have() ? S_m.MHD_get_connection_info(connection, info_type) : NULL;
}
