/* Schema migrations per backend (see migrations.h; the columns are described in
 * docs/internals/STORE.md). */
#include "store/migrations.h"

/* SQLite. inference_log is a rowid table (appends are cheapest) with the bodies as its last
 * columns, so scans that stop before them never read their overflow pages. Times are integer
 * µs since the epoch; NULL = unknown. */
const sy_store_migration_t sy_store_migrations_sqlite[] = {
    {1, "inference_log table",
     "CREATE TABLE inference_log ("
     " seq INTEGER PRIMARY KEY,"
     " id TEXT NOT NULL,"
     " request_id TEXT,"
     " attempt INTEGER NOT NULL,"
     " parent_id TEXT,"
     " t_received_us INTEGER NOT NULL,"
     " t_upstream_start_us INTEGER,"
     " t_first_token_us INTEGER,"
     " t_end_us INTEGER,"
     " latency_us INTEGER,"
     " ttft_us INTEGER,"
     " overhead_us INTEGER,"
     " model TEXT,"
     " provider TEXT,"
     " upstream_model TEXT,"
     " deployment TEXT,"
     " status TEXT NOT NULL,"
     " http_status INTEGER,"
     " error_type TEXT,"
     " error_message TEXT,"
     " input_tokens INTEGER,"
     " output_tokens INTEGER,"
     " cached_read_tokens INTEGER,"
     " cache_write_tokens INTEGER,"
     " reasoning_tokens INTEGER,"
     " usage_source TEXT,"
     " cost_nanousd INTEGER,"
     " key_id TEXT,"
     " user_id TEXT,"
     " team_id TEXT,"
     " conversation_id TEXT,"
     " message_id TEXT,"
     " experiment TEXT,"
     " variant TEXT,"
     " tags TEXT,"
     " metadata TEXT,"
     " request_truncated INTEGER NOT NULL,"
     " response_truncated INTEGER NOT NULL,"
     " request_size INTEGER,"
     " response_size INTEGER,"
     " request_body TEXT,"
     " response_body TEXT"
     ");"
     "CREATE UNIQUE INDEX inference_log_id ON inference_log(id);"},
    {2, "inference_log query indexes",
     "CREATE INDEX inference_log_time ON inference_log(t_received_us, id);"
     "CREATE INDEX inference_log_model ON inference_log(model, t_received_us);"
     "CREATE INDEX inference_log_key ON inference_log(key_id, t_received_us);"
     "CREATE INDEX inference_log_user ON inference_log(user_id, t_received_us);"},
    /* Per-minute rollup for query_stats over large ranges (docs/internals/STORE.md, "Stats
     * rollup"). One row per (minute, model, provider, key_id) present; write_batch keeps it in
     * the same transaction, counting only rows it actually inserted. Sums are over known values;
     * cost_nanousd sums known costs (cost_unknown counts the NULL ones); ok_* are the
     * tokens/s terms (status ok, output and latency known); the two BLOBs are store/hist.h
     * encodings of the known latencies / TTFTs. The back-fill uses sy_hist(), an aggregate the
     * backend registers on every connection. */
    {3, "stats_minute rollup",
     "CREATE TABLE stats_minute ("
     " minute_us INTEGER NOT NULL,"
     " model TEXT, provider TEXT, key_id TEXT,"
     " count INTEGER NOT NULL, errors INTEGER NOT NULL,"
     " input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
     " cost_nanousd INTEGER NOT NULL, cost_unknown INTEGER NOT NULL,"
     " ok_output_tokens INTEGER NOT NULL, ok_latency_us INTEGER NOT NULL,"
     " latency_hist BLOB NOT NULL, ttft_hist BLOB NOT NULL);"
     "CREATE INDEX stats_minute_cell ON stats_minute(minute_us, model, provider, key_id);"
     "INSERT INTO stats_minute SELECT t_received_us - t_received_us % 60000000, model, provider,"
     " key_id, count(*), sum(status <> 'ok'), coalesce(sum(input_tokens), 0),"
     " coalesce(sum(output_tokens), 0), coalesce(sum(cost_nanousd), 0),"
     " sum(cost_nanousd IS NULL),"
     " coalesce(sum(CASE WHEN status = 'ok' AND latency_us IS NOT NULL THEN output_tokens END), 0),"
     " coalesce(sum(CASE WHEN status = 'ok' AND output_tokens IS NOT NULL THEN latency_us END), 0),"
     " sy_hist(latency_us), sy_hist(ttft_us)"
     " FROM inference_log GROUP BY 1, 2, 3, 4;"},
    /* App data (docs/internals/AUTH.md): users (Argon2id hash in libsodium's string form),
     * teams and membership, virtual API keys (only the SHA-256 of the key, hex), sessions (only
     * the SHA-256 of the token), the audit log. Times are µs since the epoch; NULL = never.
     * allowed_models / default_tags are JSON arrays (NULL = any model / no tags). The same
     * statement text runs on both backends (store/appdata.c). */
    {4, "app data: users, teams, keys, sessions, audit log",
     "CREATE TABLE users ("
     " id text PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text NOT NULL,"
     " pw_hash text, created_us INTEGER NOT NULL, disabled_us INTEGER);"
     "CREATE TABLE teams (id text PRIMARY KEY, name text NOT NULL UNIQUE, created_us INTEGER NOT "
     "NULL);"
     "CREATE TABLE team_members (team_id text NOT NULL, user_id text NOT NULL,"
     " role text NOT NULL, PRIMARY KEY (team_id, user_id));"
     "CREATE TABLE api_keys ("
     " id text PRIMARY KEY, name text NOT NULL, prefix text NOT NULL, hash text NOT NULL UNIQUE,"
     " owner_user text, owner_team text, expires_us INTEGER, revoked_us INTEGER, rotated_from text,"
     " grace_until_us INTEGER, allowed_models text, default_tags text, created_us INTEGER NOT NULL,"
     " last_used_us INTEGER);"
     "CREATE INDEX api_keys_owner_user ON api_keys(owner_user);"
     "CREATE TABLE sessions (token_hash text PRIMARY KEY, user_id text NOT NULL,"
     " csrf text NOT NULL, created_us INTEGER NOT NULL, expires_us INTEGER NOT NULL);"
     "CREATE TABLE audit_log (id text PRIMARY KEY, t_us INTEGER NOT NULL, actor text,"
     " action text NOT NULL, target text, remote text, detail text);"
     "CREATE INDEX audit_log_time ON audit_log(t_us, id);"},
    /* Issue 5: an entity's own rate limits and budgets (api/admission.c), a JSON array of limit
     * strings as policy/limits.h parses them; NULL = the config's limits.defaults apply. */
    {5, "app data: per key/user/team limits",
     "ALTER TABLE users ADD COLUMN limits text;"
     "ALTER TABLE teams ADD COLUMN limits text;"
     "ALTER TABLE api_keys ADD COLUMN limits text;"},
    /* Provider credentials (docs/internals/SECRETS.md): the value sealed with libsodium
     * secretbox under the master key — base64 nonce and ciphertext, and the id of the key that
     * sealed it (never the key) — plus its last four characters for display. Times are µs
     * since the epoch; updated_by is the audit actor. */
    {6, "credentials",
     "CREATE TABLE credentials ("
     " name text PRIMARY KEY, provider text, ciphertext text NOT NULL, nonce text NOT NULL,"
     " key_id text NOT NULL, last4 text, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
     " updated_by text);"},
    /* The key and user indexes hold only rows that have a key / user: `key_id = :key` and
     * `user_id = :user` (query_logs' only uses) imply NOT NULL, so the planner still uses them,
     * and rows without one (auth mode local, unauthenticated errors) cost no index insert. */
    {7, "inference_log key/user indexes: partial",
     "DROP INDEX inference_log_key;"
     "CREATE INDEX inference_log_key ON inference_log(key_id, t_received_us)"
     " WHERE key_id IS NOT NULL;"
     "DROP INDEX inference_log_user;"
     "CREATE INDEX inference_log_user ON inference_log(user_id, t_received_us)"
     " WHERE user_id IS NOT NULL;"},
    /* Issue 6, chat (docs/internals/CHAT.md): conversations owned by a user (updated_us orders
     * the sidebar; current_leaf is the message the client shows as the end of the current
     * branch; defaults is a JSON object of model/params defaults), messages with parent ids
     * (siblings under one parent are branches: edits and regenerations; parent NULL for a
     * root), and feedback keyed by (inference-log row id, user) — the log row is never
     * rewritten. Times are µs since the epoch; archived_us NULL = not archived. Search scans a
     * user's conversations through conversations_user and their messages through
     * messages_conversation, bounded by LIMIT (no trigram index: LIKE '%q%' cannot use a
     * b-tree). */
    {8, "chat: conversations, messages, feedback",
     "CREATE TABLE conversations ("
     " id text PRIMARY KEY, user_id text NOT NULL, title text, created_us INTEGER NOT NULL,"
     " updated_us INTEGER NOT NULL, archived_us INTEGER, defaults text, current_leaf text);"
     "CREATE INDEX conversations_user ON conversations(user_id, updated_us, id);"
     "CREATE TABLE messages ("
     " id text PRIMARY KEY, conversation_id text NOT NULL, parent_id text,"
     " role text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),"
     " content text NOT NULL,"
     " status text NOT NULL CHECK (status IN ('ok', 'streaming', 'cancelled', 'error')),"
     " model text, params text, log_id text, created_us INTEGER NOT NULL, error text);"
     "CREATE INDEX messages_conversation ON messages(conversation_id, created_us, id);"
     "CREATE INDEX messages_log ON messages(log_id) WHERE log_id IS NOT NULL;"
     "CREATE TABLE feedback ("
     " log_id text NOT NULL, user_id text NOT NULL, rating integer NOT NULL"
     " CHECK (rating IN (-1, 1)), comment text, created_us INTEGER NOT NULL,"
     " updated_us INTEGER NOT NULL, PRIMARY KEY (log_id, user_id));"},
    /* Issue 6, generation (docs/internals/CHAT.md, "Generation"): an answer's metrics (a JSON
     * object: ttft_ms, latency_ms, tokens, tokens_per_s, cost_usd), the gateway request id of
     * the call that produced it, and the JSON Schema errors of a structured answer (a JSON
     * array, NULL when valid or not requested). messages_streaming finds the answers a crash
     * left streaming at start-up without a scan. */
    {9, "chat: answer metrics, request id, schema errors",
     "ALTER TABLE messages ADD COLUMN metrics text;"
     "ALTER TABLE messages ADD COLUMN request_id text;"
     "ALTER TABLE messages ADD COLUMN schema_errors text;"
     "CREATE INDEX messages_streaming ON messages(id) WHERE status = 'streaming';"},
    /* Issue 6, several replicas on one database (docs/internals/CHAT.md, "Store writes"): the
     * last write of a message (its insert, then every checkpoint of a streaming answer), so a
     * sweep ends only answers whose generation stopped writing (NULL on older rows: created_us
     * stands in). */
    {10, "chat: message update time", "ALTER TABLE messages ADD COLUMN updated_us INTEGER;"},
};
const size_t sy_store_migrations_sqlite_count =
    sizeof(sy_store_migrations_sqlite) / sizeof(sy_store_migrations_sqlite[0]);

/* store/hist.h's bucket index of a Nullable(Int64) column in ClickHouse SQL (NULL → 0; the
 * callers test isNull first): the exponent e = floor(log2(v)) from the float log, corrected by
 * one either way with shifts (the float can be off next to a power of two); then
 * v < 128 ? v : (e - 6) * 64 + (v >> (e - 6)). Checked against the C function on the powers of
 * two and their neighbours up to INT64_MAX. */
#define CH_X(col) "toInt64(ifNull(" col ", 0))"
#define CH_E0(col) "toInt32(floor(log2(toFloat64(" CH_X(col) "))))"
#define CH_E(col)                                                                                  \
    "(" CH_E0(col) " - (bitShiftRight(" CH_X(col) ", " CH_E0(col) ") = 0) + (bitShiftRight(" CH_X( \
        col) ", " CH_E0(col) " + 1) >= 1))"
#define CH_IDX(col)                                                                                \
    "if(" CH_X(col) " < 128, " CH_X(col) ", (" CH_E(col) " - 6) * 64 + bitShiftRight(" CH_X(       \
        col) ", " CH_E(col) " - 6))"
/* a Nested *Map column pair for SummingMergeTree: bucket indexes and their counts */
#define CH_HIST(col, name)                                                                         \
    "tupleElement(sumMap(if(isNull(" col "), emptyArrayUInt16(), [toUInt16(" CH_IDX(               \
        col) ")]), "                                                                               \
             "if(isNull(" col "), emptyArrayUInt64(), [toUInt64(1)])), 1) AS `" name ".idx`, "     \
             "tupleElement(sumMap(if(isNull(" col "), emptyArrayUInt16(), [toUInt16(" CH_IDX(      \
                 col) ")]), "                                                                      \
                      "if(isNull(" col "), emptyArrayUInt64(), [toUInt64(1)])), 2) AS `" name      \
                      ".cnt`"
/* One stats_minute row per (minute, model, provider, key_id) of the rows selected */
#define CH_ROLLUP_SELECT                                                                           \
    "SELECT intDiv(t_received_us, 60000000) * 60000000 AS minute_us, model, provider, "            \
    "key_id," CH_ROLLUP_SUMS_AS("") ", " CH_HIST("latency_us", "latMap") ", " CH_HIST("ttft_us",   \
                                                                                      "ttftMap")
/* a rollup row's counters over raw log rows, their names prefixed with p */
#define CH_ROLLUP_SUMS_AS(p)                                                                       \
    " count() AS " p "n, sum(status != 'ok') AS " p "n_err, sum(ifNull(input_tokens, 0)) AS " p    \
    "in_tok, sum(ifNull(output_tokens, 0)) AS " p "out_tok, sum(ifNull(cost_nanousd, 0)) AS " p    \
    "cost, sum(isNull(cost_nanousd)) AS " p "cost_null,"                                           \
    " sum(if(status = 'ok' AND isNotNull(latency_us), ifNull(output_tokens, 0), 0)) AS " p         \
    "ok_out, sum(if(status = 'ok' AND isNotNull(output_tokens), ifNull(latency_us, 0), 0)) AS " p  \
    "ok_lat"

/* Migration 4: the coarser rollup levels, all in ONE table, stats_roll, fed from stats_minute by
 * ONE materialized view chained to stats_minute's (an INSERT into inference_log writes three
 * parts: the log's, stats_minute's, stats_roll's; the second view reads only the per-minute cells
 * the first produced, not the raw rows). docs/internals/STORE.md, "Stats rollup". A row is a cell
 * of one level:
 *   grp     0 none, 1 (model, provider), 2 key_id; the columns a level does not group by are
 *           NULL. (1 min, model + provider + key_id) is stats_minute itself.
 *   step_us the level's time step (1 min, 5 min, 1 h); t_us its cell's start.
 * The view multiplies each stats_minute cell by the levels (ARRAY JOIN of (grp, step, q)) and
 * groups. q is the histogram coarsening of the level: 1 keeps store/hist.h's 64 sub-buckets per
 * octave (≤ 1/128 error); 4 keeps 16 (a fine index i >= 128 becomes i - i mod 4 + 2, the bucket
 * near the middle of its group of four: ≤ 2.5/64 = 3.9 % error) — a quarter of the histogram
 * entries, which are what reading a coarse level costs. 1 min levels keep full resolution.
 * The back-fill (from stats_minute, only while stats_roll is empty, so a re-run adds nothing)
 * runs before the view exists; a row inserted by another writer in between is not counted in
 * stats_roll: run migrations with one gateway. index_granularity 256, not 8,192: a query reads
 * whole granules, and 8,192 rows of histogram arrays around the 24 rows of a day's (1 h, none)
 * cells cost 0.3 s to read where 256 cost 30 ms. ARRAY JOIN, not arrayJoin(): 18.16 cannot see an
 * arrayJoin() alias from a lambda inside an aggregate. */
#define CH_LEVELS                                                                                  \
    "[(0, 60000000, 1), (0, 300000000, 4), (0, 3600000000, 4), (1, 60000000, 1),"                  \
    " (1, 300000000, 4), (1, 3600000000, 4), (2, 300000000, 4), (2, 3600000000, 4)]"
/* stats_minute's fine indexes of a histogram, coarsened by the level's q, summed per cell */
#define CH_HIST_COARSE(name, out)                                                                  \
    "tupleElement(sumMap(arrayMap(x -> toUInt16(if(x < 128, x, x - bitAnd(x, tupleElement(lv, 3)"  \
    " - 1) + intDiv(tupleElement(lv, 3), 2))), `" name ".idx`), `" name ".cnt`) AS `" out          \
    ".pair`, 1) AS `" out ".idx`, tupleElement(`" out ".pair`, 2) AS `" out ".cnt`"
/* stats_roll's columns are named apart from stats_minute's (r*): a view's `sum(n) AS n` is a
 * cyclic alias in 18.16 */
#define CH_LEVEL_SELECT(from)                                                                      \
    "SELECT toUInt8(tupleElement(lv, 1)) AS grp, toInt64(tupleElement(lv, 2)) AS step_us,"         \
    " intDiv(minute_us, step_us) * step_us AS t_us,"                                               \
    " if(grp = 1, model, CAST(NULL AS Nullable(String))) AS rmodel,"                               \
    " if(grp = 1, provider, CAST(NULL AS Nullable(String))) AS rprovider,"                         \
    " if(grp = 2, key_id, CAST(NULL AS Nullable(String))) AS rkey_id, toUInt64(sum(n)) AS rn,"     \
    " toUInt64(sum(n_err)) AS rn_err, toInt64(sum(in_tok)) AS rin_tok,"                            \
    " toInt64(sum(out_tok)) AS rout_tok, toInt64(sum(cost)) AS rcost,"                             \
    " toUInt64(sum(cost_null)) AS rcost_null, toInt64(sum(ok_out)) AS rok_out,"                    \
    " toInt64(sum(ok_lat)) AS rok_lat, " CH_HIST_COARSE("latMap", "rlatMap") ", " CH_HIST_COARSE(  \
        "ttftMap", "rttftMap") " FROM " from " ARRAY JOIN " CH_LEVELS " AS lv"
#define CH_LEVEL_GROUP " GROUP BY grp, step_us, t_us, rmodel, rprovider, rkey_id"
#define CH_MIGRATION_4                                                                             \
    "CREATE TABLE IF NOT EXISTS stats_roll (grp UInt8, step_us Int64, t_us Int64,"                 \
    " rmodel Nullable(String), rprovider Nullable(String), rkey_id Nullable(String),"              \
    " rn UInt64, rn_err UInt64, rin_tok Int64, rout_tok Int64, rcost Int64, rcost_null UInt64,"    \
    " rok_out Int64, rok_lat Int64,"                                                               \
    " rlatMap Nested(idx UInt16, cnt UInt64), rttftMap Nested(idx UInt16, cnt UInt64)"             \
    ") ENGINE = SummingMergeTree()"                                                                \
    " PARTITION BY toYYYYMM(toDateTime(intDiv(t_us, 1000000)))"                                    \
    " ORDER BY (grp, step_us, t_us, ifNull(rmodel, ''), isNull(rmodel), ifNull(rprovider, ''),"    \
    " isNull(rprovider), ifNull(rkey_id, ''), isNull(rkey_id))"                                    \
    " SETTINGS index_granularity = 256;\n"                                                         \
    "INSERT INTO stats_roll " CH_LEVEL_SELECT(                                                     \
        "stats_minute") " WHERE (SELECT count() FROM stats_roll) = 0" CH_LEVEL_GROUP ";\n"         \
                        "CREATE MATERIALIZED VIEW IF NOT EXISTS stats_roll_mv TO stats_roll "      \
                        "AS " CH_LEVEL_SELECT("stats_minute_mv") CH_LEVEL_GROUP

/* ClickHouse (inference log only). Statements are separated by ";\n": the HTTP interface runs
 * one statement per request. SQL that both 18.16 (Debian 12) and current releases accept.
 * ReplacingMergeTree ordered by (t_received_us, id): time ranges and the keyset cursor read
 * along the sorting key, and a replayed row (same id, same receive time) collapses at merge;
 * reads use FINAL. Monthly partitions (server time zone) so old months can be dropped whole.
 * Strings that can be NULL are Nullable(String); tags are Array(String) (byte exact). */
const sy_store_migration_t sy_store_migrations_clickhouse[] = {
    {1, "inference_log table",
     "CREATE TABLE IF NOT EXISTS inference_log ("
     " id String,"
     " request_id Nullable(String),"
     " attempt Int32,"
     " parent_id Nullable(String),"
     " t_received_us Int64,"
     " t_upstream_start_us Nullable(Int64),"
     " t_first_token_us Nullable(Int64),"
     " t_end_us Nullable(Int64),"
     " latency_us Nullable(Int64),"
     " ttft_us Nullable(Int64),"
     " overhead_us Nullable(Int64),"
     " model Nullable(String),"
     " provider Nullable(String),"
     " upstream_model Nullable(String),"
     " deployment Nullable(String),"
     " status String,"
     " http_status Nullable(Int32),"
     " error_type Nullable(String),"
     " error_message Nullable(String),"
     " input_tokens Nullable(Int64),"
     " output_tokens Nullable(Int64),"
     " cached_read_tokens Nullable(Int64),"
     " cache_write_tokens Nullable(Int64),"
     " reasoning_tokens Nullable(Int64),"
     " usage_source Nullable(String),"
     " cost_nanousd Nullable(Int64),"
     " key_id Nullable(String),"
     " user_id Nullable(String),"
     " team_id Nullable(String),"
     " conversation_id Nullable(String),"
     " message_id Nullable(String),"
     " experiment Nullable(String),"
     " variant Nullable(String),"
     " tags Array(String),"
     " metadata Nullable(String),"
     " request_truncated UInt8,"
     " response_truncated UInt8,"
     " request_size Nullable(Int64),"
     " response_size Nullable(Int64),"
     " request_body Nullable(String),"
     " response_body Nullable(String)"
     ") ENGINE = ReplacingMergeTree()"
     " PARTITION BY toYYYYMM(toDateTime(intDiv(t_received_us, 1000000)))"
     " ORDER BY (t_received_us, id)"},
    /* when the row reached ClickHouse: t_end → inserted_at is the pipeline's delay (spool,
     * batching, outages). Filled by the server (DEFAULT), never sent by the writer. */
    {2, "inference_log.inserted_at",
     "ALTER TABLE inference_log ADD COLUMN inserted_at DateTime DEFAULT now()"},
    /* Per-minute stats rollup (docs/internals/STORE.md, "Stats rollup"). A SummingMergeTree
     * keyed by (minute, model, provider, key_id) — NULL kept apart from '' by isNull() in the key,
     * since a Nullable sorting key is refused by 18.16 and needs a setting today — whose merges
     * add the counters and the Nested *Map histograms (bucket index → count). Readers still
     * GROUP BY: merges are eventual. Fed by a materialized view on every INSERT into
     * inference_log; write_batch sends only rows whose id is not stored yet, so a replay is not
     * counted twice. The back-fill (FINAL: duplicates once) runs only while the rollup is
     * empty, so re-running a half-applied migration does not add the rows twice. */
    {3, "stats_minute rollup",
     "CREATE TABLE IF NOT EXISTS stats_minute ("
     " minute_us Int64, model Nullable(String), provider Nullable(String), key_id Nullable(String),"
     " n UInt64, n_err UInt64, in_tok Int64, out_tok Int64, cost Int64, cost_null UInt64,"
     " ok_out Int64, ok_lat Int64,"
     " latMap Nested(idx UInt16, cnt UInt64), ttftMap Nested(idx UInt16, cnt UInt64)"
     ") ENGINE = SummingMergeTree()"
     " PARTITION BY toYYYYMM(toDateTime(intDiv(minute_us, 1000000)))"
     " ORDER BY (minute_us, ifNull(model, ''), isNull(model), ifNull(provider, ''),"
     " isNull(provider), ifNull(key_id, ''), isNull(key_id));\n"
     "INSERT INTO stats_minute " CH_ROLLUP_SELECT
     " FROM inference_log FINAL WHERE (SELECT count() FROM stats_minute) = 0"
     " GROUP BY minute_us, model, provider, key_id;\n"
     "CREATE MATERIALIZED VIEW IF NOT EXISTS stats_minute_mv TO stats_minute AS " CH_ROLLUP_SELECT
     " FROM inference_log GROUP BY minute_us, model, provider, key_id"},
    {4, "stats rollup levels 1 min, 5 min, 1 h (stats_roll)", CH_MIGRATION_4},
};
const size_t sy_store_migrations_clickhouse_count =
    sizeof(sy_store_migrations_clickhouse) / sizeof(sy_store_migrations_clickhouse[0]);

/* PostgreSQL. Same versions and meaning as SQLite's list. id is a uuid (16 bytes; its order is
 * the order of the lowercase text, so (t_received_us, id) sorts as on SQLite) and the primary
 * key, which is what ON CONFLICT (id) DO NOTHING deduplicates on. No seq column: a heap table
 * has no rowid to reuse and nothing reads insertion order. tags is text[] (NULL = no tags),
 * the truncation flags boolean. */
const sy_store_migration_t sy_store_migrations_postgres[] = {
    {1, "inference_log table",
     "CREATE TABLE inference_log ("
     " id uuid NOT NULL PRIMARY KEY,"
     " request_id text,"
     " attempt integer NOT NULL,"
     " parent_id uuid,"
     " t_received_us bigint NOT NULL,"
     " t_upstream_start_us bigint,"
     " t_first_token_us bigint,"
     " t_end_us bigint,"
     " latency_us bigint,"
     " ttft_us bigint,"
     " overhead_us bigint,"
     " model text,"
     " provider text,"
     " upstream_model text,"
     " deployment text,"
     " status text NOT NULL,"
     " http_status integer,"
     " error_type text,"
     " error_message text,"
     " input_tokens bigint,"
     " output_tokens bigint,"
     " cached_read_tokens bigint,"
     " cache_write_tokens bigint,"
     " reasoning_tokens bigint,"
     " usage_source text,"
     " cost_nanousd bigint,"
     " key_id text,"
     " user_id text,"
     " team_id text,"
     " conversation_id text,"
     " message_id text,"
     " experiment text,"
     " variant text,"
     " tags text[],"
     " metadata text,"
     " request_truncated boolean NOT NULL,"
     " response_truncated boolean NOT NULL,"
     " request_size bigint,"
     " response_size bigint,"
     " request_body text,"
     " response_body text"
     ");"},
    {2, "inference_log query indexes",
     "CREATE INDEX inference_log_time ON inference_log(t_received_us, id);"
     "CREATE INDEX inference_log_model ON inference_log(model, t_received_us);"
     "CREATE INDEX inference_log_key ON inference_log(key_id, t_received_us);"
     "CREATE INDEX inference_log_user ON inference_log(user_id, t_received_us);"},
    /* App data (docs/internals/AUTH.md): users (Argon2id hash in libsodium's string form),
     * teams and membership, virtual API keys (only the SHA-256 of the key, hex), sessions (only
     * the SHA-256 of the token), the audit log. Times are µs since the epoch; NULL = never.
     * allowed_models / default_tags are JSON arrays (NULL = any model / no tags). The same
     * statement text runs on both backends (store/appdata.c). */
    {3, "app data: users, teams, keys, sessions, audit log",
     "CREATE TABLE users ("
     " id text PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text NOT NULL,"
     " pw_hash text, created_us bigint NOT NULL, disabled_us bigint);"
     "CREATE TABLE teams (id text PRIMARY KEY, name text NOT NULL UNIQUE, created_us bigint NOT "
     "NULL);"
     "CREATE TABLE team_members (team_id text NOT NULL, user_id text NOT NULL,"
     " role text NOT NULL, PRIMARY KEY (team_id, user_id));"
     "CREATE TABLE api_keys ("
     " id text PRIMARY KEY, name text NOT NULL, prefix text NOT NULL, hash text NOT NULL UNIQUE,"
     " owner_user text, owner_team text, expires_us bigint, revoked_us bigint, rotated_from text,"
     " grace_until_us bigint, allowed_models text, default_tags text, created_us bigint NOT NULL,"
     " last_used_us bigint);"
     "CREATE INDEX api_keys_owner_user ON api_keys(owner_user);"
     "CREATE TABLE sessions (token_hash text PRIMARY KEY, user_id text NOT NULL,"
     " csrf text NOT NULL, created_us bigint NOT NULL, expires_us bigint NOT NULL);"
     "CREATE TABLE audit_log (id text PRIMARY KEY, t_us bigint NOT NULL, actor text,"
     " action text NOT NULL, target text, remote text, detail text);"
     "CREATE INDEX audit_log_time ON audit_log(t_us, id);"},
    /* Per-minute rollup, as SQLite's version 3 (docs/internals/STORE.md, "Stats rollup"): the
     * same columns, histograms as bytea. No unique key (NULL model/provider/key_id are keys
     * too): write_batch finds a cell's rows under an advisory lock. The back-fill runs in C
     * right after this statement, in the same transaction (postgres_rollup.c: PostgreSQL has
     * no sy_hist() aggregate without an extension). */
    {4, "stats_minute rollup",
     "CREATE TABLE stats_minute ("
     " minute_us bigint NOT NULL,"
     " model text, provider text, key_id text,"
     " count bigint NOT NULL, errors bigint NOT NULL,"
     " input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,"
     " cost_nanousd bigint NOT NULL, cost_unknown bigint NOT NULL,"
     " ok_output_tokens bigint NOT NULL, ok_latency_us bigint NOT NULL,"
     " latency_hist bytea NOT NULL, ttft_hist bytea NOT NULL);"
     "CREATE INDEX stats_minute_cell ON stats_minute(minute_us, model, provider, key_id);"},
    /* Issue 5: an entity's own rate limits and budgets (api/admission.c), a JSON array of limit
     * strings as policy/limits.h parses them; NULL = the config's limits.defaults apply. */
    {5, "app data: per key/user/team limits",
     "ALTER TABLE users ADD COLUMN limits text;"
     "ALTER TABLE teams ADD COLUMN limits text;"
     "ALTER TABLE api_keys ADD COLUMN limits text;"},
    /* Provider credentials (docs/internals/SECRETS.md): the value sealed with libsodium
     * secretbox under the master key — base64 nonce and ciphertext, and the id of the key that
     * sealed it (never the key) — plus its last four characters for display. Times are µs
     * since the epoch; updated_by is the audit actor. */
    {6, "credentials",
     "CREATE TABLE credentials ("
     " name text PRIMARY KEY, provider text, ciphertext text NOT NULL, nonce text NOT NULL,"
     " key_id text NOT NULL, last4 text, created_us bigint NOT NULL, updated_us bigint NOT NULL,"
     " updated_by text);"},
    /* Issue 6, chat (docs/internals/CHAT.md): conversations owned by a user (updated_us orders
     * the sidebar; current_leaf is the message the client shows as the end of the current
     * branch; defaults is a JSON object of model/params defaults), messages with parent ids
     * (siblings under one parent are branches: edits and regenerations; parent NULL for a
     * root), and feedback keyed by (inference-log row id, user) — the log row is never
     * rewritten. Times are µs since the epoch; archived_us NULL = not archived. Search scans a
     * user's conversations through conversations_user and their messages through
     * messages_conversation, bounded by LIMIT (no trigram index: LIKE '%q%' cannot use a
     * b-tree). */
    {7, "chat: conversations, messages, feedback",
     "CREATE TABLE conversations ("
     " id text PRIMARY KEY, user_id text NOT NULL, title text, created_us bigint NOT NULL,"
     " updated_us bigint NOT NULL, archived_us bigint, defaults text, current_leaf text);"
     "CREATE INDEX conversations_user ON conversations(user_id, updated_us, id);"
     "CREATE TABLE messages ("
     " id text PRIMARY KEY, conversation_id text NOT NULL, parent_id text,"
     " role text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),"
     " content text NOT NULL,"
     " status text NOT NULL CHECK (status IN ('ok', 'streaming', 'cancelled', 'error')),"
     " model text, params text, log_id text, created_us bigint NOT NULL, error text);"
     "CREATE INDEX messages_conversation ON messages(conversation_id, created_us, id);"
     "CREATE INDEX messages_log ON messages(log_id) WHERE log_id IS NOT NULL;"
     "CREATE TABLE feedback ("
     " log_id text NOT NULL, user_id text NOT NULL, rating integer NOT NULL"
     " CHECK (rating IN (-1, 1)), comment text, created_us bigint NOT NULL,"
     " updated_us bigint NOT NULL, PRIMARY KEY (log_id, user_id));"},
    /* As SQLite's version 9. */
    {8, "chat: answer metrics, request id, schema errors",
     "ALTER TABLE messages ADD COLUMN metrics text;"
     "ALTER TABLE messages ADD COLUMN request_id text;"
     "ALTER TABLE messages ADD COLUMN schema_errors text;"
     "CREATE INDEX messages_streaming ON messages(id) WHERE status = 'streaming';"},
    /* As SQLite's version 10. */
    {9, "chat: message update time", "ALTER TABLE messages ADD COLUMN updated_us bigint;"},
};
const size_t sy_store_migrations_postgres_count =
    sizeof(sy_store_migrations_postgres) / sizeof(sy_store_migrations_postgres[0]);
