/* Tests for jarena: cJSON values made in a thread's arena. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jarena.h"
#include "unit.h"

static cJSON *S_tree(int items)
{
    cJSON *o = cJSON_CreateObject();
    ck_assert_ptr_nonnull(o);
    for (int i = 0; i < items; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%d", i);
        ck_assert_ptr_nonnull(cJSON_AddStringToObject(o, k, "a value of the page"));
    }
    return o;
}

/* A new arena of block bytes, entered by this thread. */
static jarena *S_entered(size_t block)
{
    ck_assert_int_eq(jarena_hooks(), 0);
    jarena *a = jarena_new(block);
    ck_assert_ptr_nonnull(a);
    jarena_enter(a);
    ck_assert_ptr_eq(jarena_current(), a);
    return a;
}

START_TEST(test_outside_is_malloc)
{
    ck_assert_int_eq(jarena_hooks(), 0);
    ck_assert_ptr_null(jarena_current());
    cJSON *o = S_tree(3);
    char *js = cJSON_PrintUnformatted(o);
    ck_assert_ptr_nonnull(js);
    free(js); /* outside an arena, malloc's own */
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_reset_reuses)
{
    jarena *a = S_entered(4096);
    cJSON *first = S_tree(10);
    cJSON_Delete(cJSON_DetachItemFromObject(first, "key4")); /* a no-op in the arena... */
    ck_assert_str_eq(cJSON_GetObjectItem(first, "key5")->valuestring, "a value of the page");
    jarena_reset(a);
    /* ...and the reset gives the same memory again */
    cJSON *second = cJSON_CreateObject();
    ck_assert_ptr_eq(second, first);
    jarena_enter(NULL);
    ck_assert_ptr_null(jarena_current());
    jarena_reset(a);
    jarena_free(a);
}
END_TEST

START_TEST(test_grows_past_a_block)
{
    jarena *a = S_entered(1024);
    /* many blocks' worth, and one string bigger than a block */
    cJSON *o = S_tree(500);
    char *big = malloc(100000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 99999);
    big[99999] = '\0';
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(o, "big", big));
    free(big);
    char *js = cJSON_PrintUnformatted(o);
    ck_assert_ptr_nonnull(js);
    ck_assert_uint_gt(strlen(js), 100000);
    cJSON_free(js);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "key499")->valuestring, "a value of the page");
    ck_assert_uint_eq(strlen(cJSON_GetObjectItem(o, "big")->valuestring), 99999);
    for (int round = 0; round < 3; round++) {
        jarena_reset(a);
        o = S_tree(500);
        ck_assert_str_eq(cJSON_GetObjectItem(o, "key0")->valuestring, "a value of the page");
    }
    jarena_enter(NULL);
    jarena_free(a);
}
END_TEST

START_TEST(test_pause_outlives_reset)
{
    jarena *a = S_entered(4096);
    cJSON *ctx = S_tree(5);
    int paused = jarena_pause();
    cJSON *kept = S_tree(5); /* say, a value cached for later jobs */
    char *js = cJSON_PrintUnformatted(kept);
    jarena_resume(paused);
    ck_assert_ptr_nonnull(js);
    free(js);
    /* a malloc'd value freed inside the arena goes back to malloc */
    cJSON *tmp = NULL;
    paused = jarena_pause();
    tmp = S_tree(2);
    jarena_resume(paused);
    cJSON_Delete(tmp);
    ck_assert(cJSON_AddItemReferenceToObject(ctx, "kept", kept));
    jarena_reset(a);
    jarena_enter(NULL);
    ck_assert_str_eq(cJSON_GetObjectItem(kept, "key4")->valuestring, "a value of the page");
    cJSON_Delete(kept);
    jarena_free(a);
}
END_TEST

START_TEST(test_nested_puts_back)
{
    jarena *outer = S_entered(4096);
    cJSON *ctx = S_tree(3);
    int paused = jarena_pause();
    ck_assert_ptr_null(jarena_current()); /* paused: nothing comes from it */
    /* code inside that enters an arena of its own, then puts back */
    jarena_state was = jarena_save();
    jarena *inner = jarena_new(1024);
    ck_assert_ptr_nonnull(inner);
    jarena_enter(inner);
    ck_assert_ptr_eq(jarena_current(), inner);
    cJSON_Delete(S_tree(50));
    jarena_reset(inner);
    jarena_restore(was);
    jarena_free(inner);
    ck_assert_ptr_null(jarena_current()); /* still paused */
    cJSON *kept = S_tree(2);
    jarena_resume(paused);
    ck_assert_ptr_eq(jarena_current(), outer);
    ck_assert_str_eq(cJSON_GetObjectItem(ctx, "key2")->valuestring, "a value of the page");
    jarena_reset(outer);
    jarena_enter(NULL);
    cJSON_Delete(kept);
    jarena_free(outer);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("jarena");
    TCase *tc = tcase_create("jarena");
    tcase_add_test(tc, test_outside_is_malloc);
    tcase_add_test(tc, test_reset_reuses);
    tcase_add_test(tc, test_grows_past_a_block);
    tcase_add_test(tc, test_pause_outlives_reset);
    tcase_add_test(tc, test_nested_puts_back);
    suite_add_tcase(su, tc);
    return unit_run(su);
}
