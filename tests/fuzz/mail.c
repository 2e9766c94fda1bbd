/* libFuzzer harness: the mail header encoders and message builder, fed
 * visitor-controlled text (a name, a subject, an address, a body). Beyond
 * the sanitizers it checks the promise that matters: no value can add,
 * end or alter a header line — every CRLF inside a header is a fold (SP
 * or HTAB follows) and there is no bare CR or LF. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the header block (up to the first empty line) of s[0..n). */
static void S_check_headers(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            abort(); /* bare LF */
        if (s[i] != '\r')
            continue;
        if (i + 1 >= n || s[i + 1] != '\n')
            abort(); /* bare CR */
        if (i + 2 >= n)
            return; /* the header's own end */
        if (s[i + 2] == '\r')
            return; /* the empty line: the body starts */
        /* a new header line starts with a name: letters, digits, '-', ':' */
        if (s[i + 2] == ' ' || s[i + 2] == '\t')
            continue;
        size_t k = i + 2;
        while (k < n && ((s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z') ||
                         (s[k] >= '0' && s[k] <= '9') || s[k] == '-'))
            k++;
        if (k == i + 2 || k >= n || s[k] != ':')
            abort(); /* a line that is neither a fold nor a header */
    }
}

/* Splits data at 0xFF bytes into up to 4 NUL-terminated pieces. */
static void S_split(const uint8_t *data, size_t size, char *buf, char *part[4], size_t len[4])
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= size && k < 4; i++) {
        if (i == size || data[i] == 0xFF) {
            part[k] = buf + start;
            len[k] = i - start;
            buf[i] = '\0';
            k++;
            start = i + 1;
        } else {
            buf[i] = (char)data[i];
        }
    }
    for (; k < 4; k++) {
        part[k] = buf + size; /* "" */
        len[k] = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b = malloc(size + 1);
    if (!b)
        return 0;
    b[size] = '\0';
    char *p[4];
    size_t n[4];
    S_split(data, size, b, p, n);
    /* p[0] a display name, p[1] a subject, p[2] an address, p[3] a body */
    folio_err err;
    buf out = BUF_INIT;
    if (mail_encode_header(&out, "Subject", p[1], n[1], &err) == 0)
        S_check_headers(out.ptr, out.len);
    buf_reset(&out);
    int valid = mail_addr_valid(p[2]);
    int rc = mail_encode_address(&out, "Reply-To", p[0], p[2], &err);
    if (rc == 0) {
        if (!valid)
            abort(); /* an address the validator refuses reached a header */
        S_check_headers(out.ptr, out.len);
    }
    buf_reset(&out);
    char *display = NULL, *addr = NULL;
    if (mail_parse_mailbox(p[0], &display, &addr, &err) == 0) {
        free(display);
        free(addr);
    }
    mail_message m = {
        .from_name = "Site", .from_addr = "site@example.org",
        .to_name = p[0], .to_addr = valid ? p[2] : "owner@example.org",
        .reply_name = p[0], .reply_addr = valid ? p[2] : NULL,
        .subject = p[1], .text = p[3], .text_len = n[3],
        .html = (size & 1) ? p[3] : NULL, .html_len = n[3],
        .date_ms = 1700000000000LL, .id = "fuzz",
    };
    if (mail_build(&m, &out, &err) == 0)
        S_check_headers(out.ptr, out.len);
    buf_free(&out);
    free(b);
    return 0;
}
