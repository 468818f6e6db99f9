/* Private to store/: the inference_log columns in the order every backend's statements list
 * them (bind/COPY/RowBinary positions). One list, so the backends cannot drift apart. */
#ifndef SY_STORE_COLUMNS_H
#define SY_STORE_COLUMNS_H

enum {
    C_ID,
    C_REQUEST_ID,
    C_ATTEMPT,
    C_PARENT_ID,
    C_T_RECEIVED,
    C_T_UPSTREAM_START,
    C_T_FIRST_TOKEN,
    C_T_END,
    C_LATENCY,
    C_TTFT,
    C_OVERHEAD,
    C_MODEL,
    C_PROVIDER,
    C_UPSTREAM_MODEL,
    C_DEPLOYMENT,
    C_STATUS,
    C_HTTP_STATUS,
    C_ERROR_TYPE,
    C_ERROR_MESSAGE,
    C_INPUT_TOKENS,
    C_OUTPUT_TOKENS,
    C_CACHED_READ,
    C_CACHE_WRITE,
    C_REASONING,
    C_USAGE_SOURCE,
    C_COST,
    C_KEY_ID,
    C_USER_ID,
    C_TEAM_ID,
    C_CONVERSATION_ID,
    C_MESSAGE_ID,
    C_EXPERIMENT,
    C_VARIANT,
    C_TAGS,
    C_METADATA,
    C_REQ_TRUNC,
    C_RESP_TRUNC,
    C_REQ_SIZE,
    C_RESP_SIZE,
    C_REQ_BODY,
    C_RESP_BODY,
    C__COUNT
};

#endif
