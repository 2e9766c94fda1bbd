/* jarena — see jarena.h. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "jarena.h"

/* Under AddressSanitizer the free part of every block is poisoned, so a
 * value used after the reset that dropped it is reported, as after free. */
#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifdef S_ASAN
#include <sanitizer/asan_interface.h>
#define S_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define S_POISON(p, n) ((void)(p), (void)(n))
#define S_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define S_ALIGN 16u

typedef struct S_block {
    struct S_block *next;
    size_t cap, used;
    _Alignas(S_ALIGN) char data[];
} S_block;

struct jarena {
    S_block *head; /* kept across resets */
    S_block *cur;  /* the newest: allocations come from it */
    size_t block;
};

static _Thread_local jarena *S_tls;
static _Thread_local int S_paused;

static S_block *S_block_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(S_block))
        return NULL;
    S_block *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    S_POISON(b->data, cap);
    return b;
}

static void S_block_free(S_block *b)
{
    S_UNPOISON(b->data, b->cap);
    free(b);
}

static void *S_alloc(size_t n)
{
    jarena *a = S_tls;
    if (!a || S_paused)
        return malloc(n);
    if (n > SIZE_MAX / 2)
        return NULL;
    size_t r = (n + S_ALIGN - 1) & ~(size_t)(S_ALIGN - 1);
    S_block *b = a->cur;
    if (r > b->cap - b->used) {
        /* a new block rather than malloc: every byte stays the arena's */
        S_block *nb = S_block_new(r > a->block ? r : a->block);
        if (!nb)
            return NULL;
        b->next = nb;
        a->cur = b = nb;
    }
    char *p = b->data + b->used;
    b->used += r;
    S_UNPOISON(p, n);
    return p;
}

static int S_owns(const jarena *a, const void *p)
{
    uintptr_t u = (uintptr_t)p;
    for (const S_block *b = a->head; b; b = b->next)
        if (u - (uintptr_t)b->data < b->cap)
            return 1;
    return 0;
}

static void S_free(void *p)
{
    const jarena *a = S_tls;
    if (a && p && S_owns(a, p))
        return;
    free(p);
}

static void S_install(void)
{
    cJSON_Hooks h = {S_alloc, S_free};
    cJSON_InitHooks(&h);
}

int jarena_hooks(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    return pthread_once(&once, S_install) == 0 ? 0 : -1;
}

jarena *jarena_new(size_t block)
{
    jarena *a = malloc(sizeof *a);
    if (!a)
        return NULL;
    a->block = block ? block : 4096;
    if (!(a->head = a->cur = S_block_new(a->block))) {
        free(a);
        return NULL;
    }
    return a;
}

void jarena_free(jarena *a)
{
    if (!a)
        return;
    if (S_tls == a)
        S_tls = NULL;
    for (S_block *b = a->head, *n; b; b = n) {
        n = b->next;
        S_block_free(b);
    }
    free(a);
}

void jarena_enter(jarena *a)
{
    S_tls = a;
    S_paused = 0;
}

jarena *jarena_current(void)
{
    return S_paused ? NULL : S_tls;
}

void jarena_reset(jarena *a)
{
    for (S_block *b = a->head->next, *n; b; b = n) {
        n = b->next;
        S_block_free(b);
    }
    S_POISON(a->head->data, a->head->used);
    a->head->next = NULL;
    a->head->used = 0;
    a->cur = a->head;
}

int jarena_pause(void)
{
    int was = S_paused;
    S_paused = 1;
    return was;
}

void jarena_resume(int paused)
{
    S_paused = paused;
}

jarena_state jarena_save(void)
{
    return (jarena_state){S_tls, S_paused};
}

void jarena_restore(jarena_state st)
{
    S_tls = st.a;
    S_paused = st.paused;
}
