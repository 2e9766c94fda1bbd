/* images — responsive variants of the site's raster images (libvips).
 *
 * A JPEG, PNG or WebP image is resized to the widths of IMAGES_WIDTHS that
 * are smaller than it, and to its own width up to the largest of them
 * (never upscaled), each in its own format and in WebP. Variants are kept
 * in a cache folder under names made of a hash of the source's bytes and
 * the width ("<hash>-<width>.<ext>"), so that an image is encoded once for
 * every build that shows it, whatever its name. Safe to use from several
 * threads at once. */
#ifndef FOLIO_IMAGES_H
#define FOLIO_IMAGES_H

#include <stddef.h>
#include "util.h"

#define IMAGES_WIDTHS {480, 960, 1600}
#define IMAGES_MAX 4

typedef struct images images;

/* What a source image gave: its variants, smallest first. */
typedef struct images_set {
    char hash[33];            /* hex; names the variants */
    char ext[5];              /* the source's format: "jpg", "png" or "webp" */
    int width, height;        /* the source's */
    int n;
    int widths[IMAGES_MAX], heights[IMAGES_MAX];
} images_set;

/* The cache in cache_dir (made when missing). */
images *images_open(const char *cache_dir, folio_err *err);
void images_close(images *im);

/* Whether a file name is one images_prepare takes (by its extension). */
int images_is_raster(const char *name);

/* Makes the variants of the image at path that the cache lacks. name is
 * the file as the owner knows it, for messages: an image that cannot be
 * decoded is an error naming it. */
int images_prepare(images *im, const char *path, const char *name, images_set *out,
                   folio_err *err);

/* The cache file name of variant k ("<hash>-<width>.<ext>"), in WebP when webp. */
int images_variant_name(const images_set *set, int k, int webp, char *out, size_t n);

/* The cache folder. */
const char *images_dir(const images *im);

/* How many variants this process encoded (the rest came from the cache). */
long images_encoded(const images *im);

#endif
