/* api/logs.c's thread-pool side against a real SQLite store: a list page that would exceed the
 * byte cap stops early with a cursor, and following the cursors still visits every row once;
 * get and stats render through the same jobs. The cap is made small here (LIST_MAX_BYTES). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX_BYTES (20u << 10)
#include "../../src/api/logs.c"

static sy_store_t *open_store(char *dir)
{
    strcpy(dir, "/tmp/sy-logs-page-XXXXXX");
    assert_non_null(mkdtemp(dir));
    sy_store_conf_t conf = {.url = "sqlite:", .data_dir = dir};
    sy_store_t *s = NULL;
    char msg[SY_STORE_MSGLEN];
    if (sy_store_open_migrated(&conf, &s, msg, sizeof msg)) fail_msg("%s", msg);
    return s;
}

/* 30 rows, each with ~3 KiB of metadata: about 7 rows fit in 20 KiB */
static void fill(sy_store_t *s, char ids[30][SY_UUID_STRLEN + 1])
{
    char md[3200];
    memset(md, 0, sizeof md);
    strcpy(md, "{\"pad\":\"");
    memset(md + 8, 'x', 3000);
    strcpy(md + 3008, "\"}");
    sy_log_record_t recs[30];
    const sy_log_record_t *ptrs[30];
    for (int i = 0; i < 30; i++) {
        sy_log_record_t *r = &recs[i];
        sy_log_record_init(r);
        snprintf(r->id, sizeof r->id, "01a20000-0000-7000-8000-%012d", i);
        strcpy(ids[i], r->id);
        r->t_received_us = INT64_C(1795413600000000) + i * 1000;
        r->model = SY_STR_LIT("m");
        r->metadata = sy_str_c(md);
        r->input_tokens = 1;
        r->cost_nanousd = 10;
        r->request_body = SY_STR_LIT("{\"q\":\"body\"}");
        ptrs[i] = r;
    }
    char msg[SY_STORE_MSGLEN];
    if (sy_store_write_batch(s, ptrs, 30, msg, sizeof msg)) fail_msg("%s", msg);
}

static json_t *run(job_t *j)
{
    on_work(&j->work);
    if (j->err) fail_msg("job failed: %s", j->msg);
    json_error_t e;
    json_t *doc = json_loadb(j->out.base, j->out.len, 0, &e);
    if (!doc) fail_msg("bad JSON: %s", e.text);
    return doc;
}

static void page_cut_by_bytes(void **state)
{
    (void)state;
    char dir[64], ids[30][SY_UUID_STRLEN + 1];
    sy_store_t *s = open_store(dir);
    fill(s, ids);
    int seen = 0, pages = 0;
    char cursor[SY_STORE_CURSOR_MAX] = "";
    for (;;) {
        job_t *j = job_new(JOB_LIST, LIST_MAX_BYTES);
        j->store = s;
        j->work.data = j;
        j->limit = 1000;
        j->filter.ascending = true;
        strcpy(j->cursor, cursor);
        json_t *doc = run(j);
        assert_true(j->out.len <= LIST_MAX_BYTES);
        json_t *data = json_object_get(doc, "data");
        assert_true(json_array_size(data) > 0 && json_array_size(data) < 30);
        for (size_t i = 0; i < json_array_size(data); i++) {
            const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
            assert_string_equal(id, ids[seen]);
            seen++;
        }
        pages++;
        bool more = json_is_true(json_object_get(doc, "has_more"));
        json_t *nc = json_object_get(doc, "next_cursor");
        assert_int_equal(more, json_is_string(nc));
        if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
        json_decref(doc);
        job_free(j);
        if (!more) break;
        assert_true(pages < 30);
    }
    assert_int_equal(seen, 30);
    assert_true(pages >= 4);

    /* one row with its body */
    job_t *g = job_new(JOB_GET, 0);
    g->store = s;
    g->work.data = g;
    g->max_row_bytes = 1u << 20;
    strcpy(g->id, ids[7]);
    json_t *row = run(g);
    assert_string_equal(json_string_value(json_object_get(row, "request_body")),
                        "{\"q\":\"body\"}");
    json_decref(row);
    job_free(g);
    /* a missing one: 404 with the id in the message */
    g = job_new(JOB_GET, 0);
    g->store = s;
    g->work.data = g;
    g->max_row_bytes = 1u << 20;
    strcpy(g->id, "01a20000-0000-7000-8000-999999999999");
    on_work(&g->work);
    assert_int_equal(g->err, SY_ERR_NOT_FOUND);
    assert_non_null(strstr(g->msg, g->id));
    job_free(g);

    /* stats: cells and totals */
    job_t *st = job_new(JOB_STATS, 1u << 20);
    st->store = s;
    st->work.data = st;
    st->stats = (sy_stats_query_t){.from_us = INT64_C(1795413600000000),
                                   .to_us = INT64_C(1795413660000000),
                                   .bucket_us = 10000,
                                   .group_by = SY_STATS_GROUP_MODEL};
    json_t *sd = run(st);
    assert_int_equal(json_array_size(json_object_get(sd, "data")), 3); /* 10 rows per 10 ms */
    json_t *tot = json_object_get(sd, "totals");
    assert_int_equal(json_integer_value(json_object_get(tot, "count")), 30);
    assert_int_equal(json_integer_value(json_object_get(tot, "input_tokens")), 30);
    assert_int_equal(json_integer_value(json_object_get(tot, "cost_nanousd")), 300);
    assert_string_equal(json_string_value(json_object_get(sd, "percentiles")), "exact");
    json_decref(sd);
    job_free(st);

    sy_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(page_cut_by_bytes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
