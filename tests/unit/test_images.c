/* Tests for images: variants at the right widths and formats, never
 * upscaled, made once and then taken from the cache, and an image that
 * cannot be decoded refused with its name. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>

#include "images.h"
#include "unit.h"

/* A noisy image of w x h saved at path (the format by its extension). */
static void S_noise(const char *path, int w, int h)
{
    VipsImage *img = NULL;
    ck_assert_int_eq(vips_gaussnoise(&img, w, h, "mean", 128.0, "sigma", 40.0, NULL), 0);
    VipsImage *u = NULL;
    ck_assert_int_eq(vips_cast_uchar(img, &u, NULL), 0);
    ck_assert_int_eq(vips_image_write_to_file(u, path, NULL), 0);
    g_object_unref(u);
    g_object_unref(img);
}

/* The width of the image at dir/name. */
static int S_width(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    VipsImage *img = vips_image_new_from_file(path, NULL);
    ck_assert_msg(img != NULL, "%s does not load", path);
    int w = vips_image_get_width(img);
    g_object_unref(img);
    return w;
}

/* A scratch folder with a w x h image called file in it, and a cache
 * beside it (dir/cache); the image prepared into set. */
static images *S_prepared(char *dir, size_t cap, char *cache, const char *file, int w, int h,
                          images_set *set)
{
    char src[PATH_MAX];
    folio_err err;
    unit_tmpdir(dir, cap, "images");
    snprintf(src, sizeof src, "%s/%s", dir, file);
    snprintf(cache, PATH_MAX, "%s/cache", dir);
    S_noise(src, w, h);
    images *im = images_open(cache, &err);
    ck_assert_msg(im != NULL, "%s", err.msg);
    ck_assert_msg(images_prepare(im, src, file, set, &err) == 0, "%s", err.msg);
    return im;
}

START_TEST(test_widths_and_cache)
{
    char dir[256], src[PATH_MAX], cache[PATH_MAX], name[96];
    folio_err err;
    images_set set;
    images *im = S_prepared(dir, sizeof dir, cache, "photo.jpg", 2000, 1000, &set);
    snprintf(src, sizeof src, "%s/photo.jpg", dir);
    ck_assert_str_eq(set.ext, "jpg");
    ck_assert_int_eq(set.width, 2000);
    ck_assert_int_eq(set.n, 3);
    static const int want[] = {480, 960, 1600};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(set.widths[k], want[k]);
        ck_assert_int_eq(set.heights[k], want[k] / 2);
        for (int webp = 0; webp < 2; webp++) {
            ck_assert_int_eq(images_variant_name(&set, k, webp, name, sizeof name), 0);
            ck_assert_ptr_nonnull(strstr(name, webp ? ".webp" : ".jpg"));
            ck_assert_int_eq(S_width(cache, name), want[k]);
        }
    }
    ck_assert_int_eq(images_encoded(im), 6);
    /* again: every variant is in the cache */
    images_set again;
    ck_assert_int_eq(images_prepare(im, src, "photo.jpg", &again, &err), 0);
    ck_assert_int_eq(images_encoded(im), 6);
    ck_assert_str_eq(again.hash, set.hash);
    images_close(im);
    unit_rmdir(dir);
}
END_TEST

START_TEST(test_small_not_upscaled)
{
    char dir[256], cache[PATH_MAX], name[96];
    images_set set;
    images *im = S_prepared(dir, sizeof dir, cache, "icon.png", 300, 200, &set);
    ck_assert_str_eq(set.ext, "png");
    ck_assert_int_eq(set.n, 1);
    ck_assert_int_eq(set.widths[0], 300);
    ck_assert_int_eq(set.heights[0], 200);
    ck_assert_int_eq(images_variant_name(&set, 0, 0, name, sizeof name), 0);
    ck_assert_int_eq(S_width(cache, name), 300);
    ck_assert_int_eq(images_variant_name(&set, 0, 1, name, sizeof name), 0);
    ck_assert_int_eq(S_width(cache, name), 300);
    ck_assert_int_ne(images_variant_name(&set, 1, 0, name, sizeof name), 0);
    images_close(im);
    unit_rmdir(dir);
}
END_TEST

START_TEST(test_broken)
{
    char dir[256], src[PATH_MAX], cache[PATH_MAX];
    folio_err err;
    unit_tmpdir(dir, sizeof dir, "images");
    snprintf(src, sizeof src, "%s/broken.png", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    FILE *f = fopen(src, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a picture\n", f);
    ck_assert_int_eq(fclose(f), 0);
    images *im = images_open(cache, &err);
    ck_assert_ptr_nonnull(im);
    images_set set;
    ck_assert_int_ne(images_prepare(im, src, "content/x/broken.png", &set, &err), 0);
    ck_assert_msg(strstr(err.msg, "content/x/broken.png") != NULL, "%s", err.msg);
    /* a JPEG cut short decodes no further than its header */
    snprintf(src, sizeof src, "%s/cut.jpg", dir);
    S_noise(src, 800, 600);
    ck_assert_int_eq(truncate(src, 2000), 0);
    ck_assert_int_ne(images_prepare(im, src, "cut.jpg", &set, &err), 0);
    ck_assert_msg(strstr(err.msg, "cut.jpg") != NULL, "%s", err.msg);
    ck_assert_int_eq(images_encoded(im), 0);
    images_close(im);
    unit_rmdir(dir);
}
END_TEST

START_TEST(test_is_raster)
{
    ck_assert(images_is_raster("a.jpg"));
    ck_assert(images_is_raster("a.JPEG"));
    ck_assert(images_is_raster("dir/a.webp"));
    ck_assert(images_is_raster("a.png"));
    ck_assert(!images_is_raster("a.svg"));
    ck_assert(!images_is_raster("a.pdf"));
    ck_assert(!images_is_raster(".png"));
}
END_TEST

int main(void)
{
    folio_err err;
    images *warm = images_open("/tmp", &err); /* starts libvips for S_noise */
    images_close(warm);
    Suite *su = suite_create("images");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_widths_and_cache);
    tcase_add_test(tc, test_small_not_upscaled);
    tcase_add_test(tc, test_broken);
    tcase_add_test(tc, test_is_raster);
    suite_add_tcase(su, tc);
    int rc = unit_run(su);
    vips_shutdown();
    return rc;
}
