/* images-gen DIR N [W H]: N noisy JPEG photos DIR/p000.jpg ... (W x H,
 * default 3000 x 2000), each different, for bench/images. */
#include <stdio.h>
#include <stdlib.h>

#include <vips/vips.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: images-gen DIR N [W H]\n");
        return 2;
    }
    int n = atoi(argv[2]);
    int w = argc > 4 ? atoi(argv[3]) : 3000, h = argc > 4 ? atoi(argv[4]) : 2000;
    if (VIPS_INIT(argv[0]) != 0)
        vips_error_exit("images-gen");
    for (int i = 0; i < n; i++) {
        VipsImage *noise = NULL, *bands[3], *rgb = NULL, *u = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/p%03d.jpg", argv[1], i);
        if (vips_gaussnoise(&noise, w, h, "mean", 100.0 + i % 50, "sigma", 30.0, NULL) != 0)
            vips_error_exit("gaussnoise");
        bands[0] = bands[1] = bands[2] = noise;
        if (vips_bandjoin(bands, &rgb, 3, NULL) != 0 || vips_cast_uchar(rgb, &u, NULL) != 0 ||
            vips_jpegsave(u, path, "Q", 85, NULL) != 0)
            vips_error_exit("%s", path);
        g_object_unref(u);
        g_object_unref(rgb);
        g_object_unref(noise);
    }
    vips_shutdown();
    return 0;
}
