/* images — variants with libvips, cached by the hash of the source's bytes.
 *
 * The source is read once into memory: its hash names the variants, and
 * libvips decodes it from there (shrink-on-load makes small JPEG variants
 * cheap). A variant is written to a temporary name and renamed, so that a
 * killed build or two threads making the same one never leave half a file
 * in the cache.
 *
 * libvips is opened (dlopen) on the first images_open, not linked: it
 * brings a hundred shared libraries whose loading cost every folio
 * command ~20 MiB and tens of milliseconds, most of an incremental build,
 * while most builds resize nothing. */
#include "images.h"
#include "dl.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <vips/vips.h>

struct images {
    char *dir;
    atomic_long encoded;
    atomic_long tmpno;
};

static pthread_once_t S_once = PTHREAD_ONCE_INIT;
static int S_init_rc = -1;
static char S_dl_err[256];

/* The entry points used, typed by the headers' own declarations. */
#define S_VIPS_FNS(X)                                                                   \
    X(g_log_set_handler) X(g_object_unref) X(vips_init) X(vips_cache_set_max)           \
    X(vips_error_buffer) X(vips_error_clear) X(vips_foreign_find_load_buffer)           \
    X(vips_image_new_from_buffer) X(vips_image_get_orientation_swap)                    \
    X(vips_image_get_width) X(vips_image_get_height) X(vips_webpsave) X(vips_pngsave)    \
    X(vips_jpegsave) X(vips_thumbnail_buffer) X(vips_image_copy_memory)
#define S_DECL(f) __typeof__(&f) f;
static struct { S_VIPS_FNS(S_DECL) } S_v;
#undef S_DECL

static int S_dl_open(void)
{
    char so[32];
    snprintf(so, sizeof so, "libvips.so.%d", VIPS_LIBRARY_CURRENT - VIPS_LIBRARY_AGE);
#define S_SYM(f) {#f, &S_v.f},
    static const dl_sym syms[] = {S_VIPS_FNS(S_SYM)};
#undef S_SYM
    return dl_bind(so, syms, sizeof syms / sizeof *syms, S_dl_err, sizeof S_dl_err);
}

/* A damaged image is an error that names it; libvips's tile warnings
 * before that say nothing more. */
static void S_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
    (void)domain;
    (void)level;
    (void)msg;
    (void)ud;
}

static void S_init(void)
{
    if (S_dl_open() != 0)
        return;
    S_v.g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, S_quiet, NULL);
    S_init_rc = S_v.vips_init("folio");
    if (S_init_rc == 0)
        S_v.vips_cache_set_max(0); /* every image is used once: keep no decoded pixels */
    else
        snprintf(S_dl_err, sizeof S_dl_err, "%s", S_v.vips_error_buffer());
}

/* libvips's error buffer is shared by all threads: take it and clear it. */
static int S_vips_err(folio_err *err, const char *name, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", S_v.vips_error_buffer());
    S_v.vips_error_clear();
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    return err_set(err, "%s: %s%s%s", name, what, *msg ? ": " : "", msg);
}

images *images_open(const char *cache_dir, folio_err *err)
{
    pthread_once(&S_once, S_init);
    if (S_init_rc != 0) {
        err_set(err, "libvips would not start: %s", S_dl_err);
        return NULL;
    }
    if (util_mkdirs(cache_dir, 0755, err) != 0)
        return NULL;
    images *im = calloc(1, sizeof *im);
    if (!im || !(im->dir = util_strdup(cache_dir))) {
        free(im);
        err_set(err, "out of memory");
        return NULL;
    }
    atomic_init(&im->encoded, 0);
    atomic_init(&im->tmpno, 0);
    return im;
}

void images_close(images *im)
{
    if (!im)
        return;
    free(im->dir);
    free(im);
}

const char *images_dir(const images *im)
{
    return im->dir;
}

long images_encoded(const images *im)
{
    return atomic_load(&((images *)im)->encoded);
}

int images_is_raster(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp", ".JPG", ".JPEG",
                                       ".PNG", ".WEBP"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t k = strlen(exts[i]);
        if (n > k && !strcmp(name + n - k, exts[i]))
            return 1;
    }
    return 0;
}

int images_variant_name(const images_set *set, int k, int webp, char *out, size_t n)
{
    if (k < 0 || k >= set->n)
        return -1;
    int w = snprintf(out, n, "%s-%d.%s", set->hash, set->widths[k], webp ? "webp" : set->ext);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* The format by the loader libvips picks from the bytes, not by the name. */
static int S_format(const char *data, size_t len, const char *name, char ext[5],
                    folio_err *err)
{
    const char *loader = S_v.vips_foreign_find_load_buffer(data, len);
    if (!loader)
        return S_vips_err(err, name, "not an image folio can read (JPEG, PNG or WebP)");
    const char *e = strstr(loader, "Jpeg") ? "jpg" : strstr(loader, "Png") ? "png"
                  : strstr(loader, "Webp") ? "webp" : NULL;
    if (!e)
        return err_set(err, "%s: a %s image; folio resizes JPEG, PNG and WebP", name, loader);
    snprintf(ext, 5, "%s", e);
    return 0;
}

/* Width and height as shown (EXIF orientation applied), and the widths. */
static int S_plan(const char *data, size_t len, const char *name, images_set *set,
                  folio_err *err)
{
    VipsImage *img = S_v.vips_image_new_from_buffer(data, len, "", NULL);
    if (!img)
        return S_vips_err(err, name, "cannot read the image");
    int swap = S_v.vips_image_get_orientation_swap(img);
    set->width = swap ? S_v.vips_image_get_height(img) : S_v.vips_image_get_width(img);
    set->height = swap ? S_v.vips_image_get_width(img) : S_v.vips_image_get_height(img);
    S_v.g_object_unref(img);
    if (set->width < 1 || set->height < 1)
        return err_set(err, "%s: an image without pixels", name);
    static const int widths[] = IMAGES_WIDTHS;
    size_t nw = sizeof widths / sizeof *widths;
    int top = set->width < widths[nw - 1] ? set->width : widths[nw - 1];
    set->n = 0;
    for (size_t i = 0; i < nw && widths[i] < top; i++)
        set->widths[set->n++] = widths[i];
    set->widths[set->n++] = top;
    for (int k = 0; k < set->n; k++) {
        long long h = ((long long)set->height * set->widths[k] + set->width / 2) / set->width;
        set->heights[k] = h < 1 ? 1 : (int)h;
    }
    return 0;
}

static int S_save(VipsImage *img, const char *tmp, const char *ext)
{
    if (!strcmp(ext, "webp"))
        return S_v.vips_webpsave(img, tmp, "Q", 80, "strip", TRUE, NULL);
    if (!strcmp(ext, "png"))
        return S_v.vips_pngsave(img, tmp, "compression", 6, "strip", TRUE, NULL);
    return S_v.vips_jpegsave(img, tmp, "Q", 82, "strip", TRUE, "optimize_coding", TRUE, NULL);
}

/* The source decoded at one width, in memory: the decoder reads in one
 * pass, and two formats are saved from it. */
static int S_thumb(const char *data, size_t len, int width, VipsImage **out)
{
    VipsImage *t = NULL;
    if (S_v.vips_thumbnail_buffer((void *)data, len, &t, width, "height", VIPS_MAX_COORD,
                              "option_string", "fail_on=error", NULL) != 0)
        return -1;
    *out = S_v.vips_image_copy_memory(t);
    S_v.g_object_unref(t);
    return *out ? 0 : -1;
}

/* One width, in the source's format and in WebP, unless the cache has them. */
static int S_make(images *im, const char *data, size_t len, const char *name,
                  const images_set *set, int k, folio_err *err)
{
    VipsImage *thumb = NULL;
    int rc = 0;
    for (int webp = 0; rc == 0 && webp < 2; webp++) {
        if (webp && !strcmp(set->ext, "webp"))
            break;
        char file[96], path[PATH_MAX], tmp[PATH_MAX + 64];
        if (images_variant_name(set, k, webp, file, sizeof file) != 0 ||
            util_path(path, sizeof path, err, "%s/%s", im->dir, file) != 0) {
            rc = err_set(err, "%s: cache path too long", name);
            break;
        }
        if (access(path, F_OK) == 0)
            continue;
        if (!thumb && S_thumb(data, len, set->widths[k], &thumb) != 0) {
            rc = S_vips_err(err, name, "cannot decode the image");
            break;
        }
        snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%ld", path, (long)getpid(),
                 atomic_fetch_add(&im->tmpno, 1));
        if (S_save(thumb, tmp, webp ? "webp" : set->ext) != 0) {
            unlink(tmp);
            rc = S_vips_err(err, name, "cannot decode the image");
        } else if (rename(tmp, path) != 0) {
            rc = err_set(err, "%s: %s", path, strerror(errno));
            unlink(tmp);
        } else {
            atomic_fetch_add(&im->encoded, 1);
        }
    }
    if (thumb)
        S_v.g_object_unref(thumb);
    return rc;
}

int images_prepare(images *im, const char *path, const char *name, images_set *out,
                   folio_err *err)
{
    memset(out, 0, sizeof *out);
    char *data;
    size_t len;
    if (util_read_file(path, &data, &len, err) != 0)
        return -1;
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)data, len, NULL, 0);
    sodium_bin2hex(out->hash, sizeof out->hash, h, sizeof h);
    int rc = S_format(data, len, name, out->ext, err);
    if (rc == 0)
        rc = S_plan(data, len, name, out, err);
    for (int k = 0; rc == 0 && k < out->n; k++)
        rc = S_make(im, data, len, name, out, k, err);
    free(data);
    return rc;
}
