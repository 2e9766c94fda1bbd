/* bench/pwhash: crypto_pwhash_str (Argon2id, interactive limits, as
 * domain_hash_password uses) alone on T threads for S seconds: the ceiling
 * for registrations per second on these cores; with "verify",
 * crypto_pwhash_str_verify of such a hash instead: the ceiling for
 * sign-ins.  usage: pwhash [T [S [verify]]] */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double S_secs;
static int S_verify;
static char S_hash[crypto_pwhash_STRBYTES];
static double S_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *S_run(void *arg)
{
    long *count = arg;
    char out[crypto_pwhash_STRBYTES];
    double end = S_now() + S_secs;
    while (S_now() < end) {
        if (S_verify ? crypto_pwhash_str_verify(S_hash, "bench-password-1", 16) != 0
                     : crypto_pwhash_str(out, "bench-password-1", 16,
                                         crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                         crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            return NULL;
        (*count)++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int t = argc > 1 ? atoi(argv[1]) : 2;
    S_secs = argc > 2 ? atof(argv[2]) : 5;
    S_verify = argc > 3 && !strcmp(argv[3], "verify");
    if (t < 1 || t > 64 || S_secs <= 0 || sodium_init() < 0)
        return 2;
    if (S_verify && crypto_pwhash_str(S_hash, "bench-password-1", 16,
                                      crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return 1;
    pthread_t th[64];
    long counts[64] = {0};
    double t0 = S_now();
    for (int i = 0; i < t; i++)
        if (pthread_create(&th[i], NULL, S_run, &counts[i]) != 0)
            return 1;
    long total = 0;
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        total += counts[i];
    }
    printf("pwhash: %ld %s on %d threads in %.1f s: %.1f/s\n", total,
           S_verify ? "verifications" : "hashes", t,
           S_now() - t0, (double)total / (S_now() - t0));
    return 0;
}
