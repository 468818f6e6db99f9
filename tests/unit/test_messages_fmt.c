#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/messages_fmt.h"
#include "core/alloc.h"

/* Expected JSON is written with ' for " to keep the literals readable. */
static json_t *J(const char *squoted)
{
    char *s = sy_xstrdup(squoted);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad expected JSON: %s: %s", e.text, s);
    free(s);
    return j;
}

static void assert_json(const char *actual, size_t len, const char *expected)
{
    json_error_t e;
    json_t *a = json_loadb(actual, len, JSON_DECODE_ANY, &e);
    if (!a) fail_msg("output is not JSON (%s): %.*s", e.text, (int)len, actual);
    json_t *x = J(expected);
    if (!json_equal(a, x)) {
        char *xs = json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS);
        char *as = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("expected: %s\nactual:   %s\n", xs, as);
        free(xs);
        free(as);
        fail();
    }
    json_decref(a);
    json_decref(x);
}

/* ---- request ---- */

static sy_err_t req(const char *squoted, sy_fmt_req_t *out)
{
    char *s = sy_xstrdup(squoted);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    sy_err_t err = sy_messages_fmt_request(s, strlen(s), out);
    free(s);
    return err;
}

static void expect_request(const char *in, const char *expected, const char *warnings)
{
    sy_fmt_req_t out;
    sy_err_t err = req(in, &out);
    if (err) fail_msg("err %d: %s", err, out.err_msg);
    assert_json(out.body, out.len, expected);
    assert_string_equal(out.warnings, warnings);
    free(out.body);
}

static void request_minimal_text(void **state)
{
    expect_request("{'model':'m1','max_tokens':100,'messages':[{'role':'user','content':'Hi'}]}",
                   "{'model':'m1','messages':[{'role':'user','content':'Hi'}],'max_tokens':100}",
                   "");
}

static void request_system_string_and_blocks(void **state)
{
    expect_request("{'model':'m','max_tokens':5,'system':'Be brief.',"
                   "'messages':[{'role':'user','content':'Hi'}]}",
                   "{'model':'m','max_tokens':5,'messages':[{'role':'system','content':'Be "
                   "brief.'},{'role':'user','content':'Hi'}]}",
                   "");
    expect_request(
        "{'model':'m','max_tokens':5,'system':[{'type':'text','text':'A'},{'type':'text','text':"
        "'B','cache_control':{'type':'ephemeral'}}],'messages':[{'role':'user','content':'Hi'}]}",
        "{'model':'m','max_tokens':5,'messages':[{'role':'system','content':'A\\n\\nB'},"
        "{'role':'user','content':'Hi'}]}",
        "");
    /* empty system: no system message */
    expect_request("{'model':'m','max_tokens':5,'system':'','messages':[{'role':'user','content':"
                   "'Hi'}]}",
                   "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'}]}", "");
}

static void request_multi_turn(void **state)
{
    expect_request(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'},"
        "{'role':'assistant','content':[{'type':'text','text':'Hello'}]},"
        "{'role':'user','content':[{'type':'text','text':'How'},{'type':'text','text':'are'}]}]}",
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'},"
        "{'role':'assistant','content':'Hello'},{'role':'user','content':[{'type':'text','text':"
        "'How'},{'type':'text','text':'are'}]}]}",
        "");
}

static void request_images(void **state)
{
    expect_request(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':["
        "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBO'}},"
        "{'type':'image','source':{'type':'url','url':'https://x/y.jpg'}},"
        "{'type':'text','text':'What?'}]}]}",
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':["
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBO'}},"
        "{'type':'image_url','image_url':{'url':'https://x/y.jpg'}},"
        "{'type':'text','text':'What?'}]}]}",
        "");
}

static void request_documents(void **state)
{
    expect_request(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':["
        "{'type':'document','title':'a.pdf','source':{'type':'base64','media_type':"
        "'application/pdf','data':'JVBE'}},"
        "{'type':'document','source':{'type':'text','media_type':'text/plain','data':'plain'}},"
        "{'type':'document','source':{'type':'content','content':[{'type':'text','text':'c1'}]}}"
        "]}]}",
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':["
        "{'type':'file','file':{'filename':'a.pdf','file_data':'data:application/pdf;base64,"
        "JVBE'}},{'type':'text','text':'plain'},{'type':'text','text':'c1'}]}]}",
        "");
}

static void request_tools_and_choices(void **state)
{
    const char *tools = "'tools':[{'name':'get_weather','description':'Weather','input_schema':{"
                        "'type':'object','properties':{'city':{'type':'string'}}}},"
                        "{'name':'noop','input_schema':{'type':'object'}}]";
    const char *otools = "'tools':[{'type':'function','function':{'name':'get_weather',"
                         "'description':'Weather','parameters':{'type':'object','properties':{"
                         "'city':{'type':'string'}}}}},{'type':'function','function':{'name':"
                         "'noop','parameters':{'type':'object'}}}]";
    static const char *const choices[][2] = {
        {"", ""},
        {",'tool_choice':{'type':'auto'}", ",'tool_choice':'auto'"},
        {",'tool_choice':{'type':'any'}", ",'tool_choice':'required'"},
        {",'tool_choice':{'type':'none'}", ",'tool_choice':'none'"},
        {",'tool_choice':{'type':'tool','name':'noop'}",
         ",'tool_choice':{'type':'function','function':{'name':'noop'}}"},
        {",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}",
         ",'tool_choice':'auto','parallel_tool_calls':false"},
        {",'tool_choice':{'type':'any','disable_parallel_tool_use':false}",
         ",'tool_choice':'required'"},
    };
    for (size_t i = 0; i < sizeof choices / sizeof *choices; i++) {
        char in[1024], want[1024];
        snprintf(in, sizeof in,
                 "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'w'}],%s%s}",
                 tools, choices[i][0]);
        snprintf(want, sizeof want,
                 "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'w'}],%s%s}",
                 otools, choices[i][1]);
        expect_request(in, want, "");
    }
    /* tool_choice without tools: OpenAI would reject it, so it is not sent */
    expect_request("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'w'}],"
                   "'tool_choice':{'type':'none','disable_parallel_tool_use':true}}",
                   "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'w'}]}", "");
}

static void request_tool_round_trip(void **state)
{
    expect_request(
        "{'model':'m','max_tokens':5,'messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':[{'type':'thinking','thinking':'hmm','signature':'sig'},"
        "{'type':'text','text':'Checking.'},"
        "{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Paris',"
        "'deg':0.5}},"
        "{'type':'tool_use','id':'toolu_2','name':'get_weather','input':{'city':'Rome'}}]},"
        "{'role':'user','content':[{'type':'text','text':'before'},"
        "{'type':'tool_result','tool_use_id':'toolu_1','content':'18C'},"
        "{'type':'tool_result','tool_use_id':'toolu_2','is_error':true,'content':["
        "{'type':'text','text':'failed'},{'type':'text','text':'retry'},"
        "{'type':'image','source':{'type':'url','url':'https://x/i.png'}}]},"
        "{'type':'text','text':'Thanks'}]}]}",
        "{'model':'m','max_tokens':5,'messages':["
        "{'role':'user','content':'Weather in Paris and Rome?'},"
        "{'role':'assistant','content':'Checking.','tool_calls':["
        "{'id':'toolu_1','type':'function','function':{'name':'get_weather','arguments':"
        "'{\\'city\\':\\'Paris\\',\\'deg\\':0.5}'}},"
        "{'id':'toolu_2','type':'function','function':{'name':'get_weather','arguments':"
        "'{\\'city\\':\\'Rome\\'}'}}]},"
        "{'role':'tool','tool_call_id':'toolu_1','content':'18C'},"
        "{'role':'tool','tool_call_id':'toolu_2','content':'failed\\n\\nretry'},"
        "{'role':'user','content':[{'type':'text','text':'before'},{'type':'image_url',"
        "'image_url':{'url':'https://x/i.png'}},{'type':'text','text':'Thanks'}]}]}",
        "");
    /* tool_use only: content null; tool_result only: no user message; absent content: "" */
    expect_request(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'t1','name':'f','input':{}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1'}]}]}",
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'q'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'t1','type':'function',"
        "'function':{'name':'f','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'t1','content':''}]}",
        "");
}

static void request_parameters_and_warnings(void **state)
{
    sy_fmt_req_t out;
    assert_int_equal(req("{'model':'m','max_tokens':64,'messages':[{'role':'user','content':'x'}],"
                         "'stop_sequences':['END','STOP'],'temperature':0.7,'top_p':0.9,'top_k':40,"
                         "'metadata':{'user_id':'u-1'},'stream':true,'thinking':{'type':'enabled',"
                         "'budget_tokens':1024},'service_tier':'auto'}",
                         &out),
                     SY_OK);
    assert_json(out.body, out.len,
                "{'model':'m','messages':[{'role':'user','content':'x'}],'max_tokens':64,"
                "'stop':['END','STOP'],'temperature':0.7,'top_p':0.9,'user':'u-1','stream':true,"
                "'stream_options':{'include_usage':true}}");
    assert_true(out.stream);
    assert_true(out.include_usage);
    assert_string_equal(out.warnings, "top_k,thinking,service_tier");
    /* reals are written in their shortest form, not jansson's 17 digits */
    assert_non_null(strstr(out.body, "\"temperature\":0.7,"));
    assert_non_null(strstr(out.body, "\"top_p\":0.9,"));
    free(out.body);

    /* stream:false, disabled thinking, null optionals: nothing sent, no warnings */
    expect_request("{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],"
                   "'stream':false,'thinking':{'type':'disabled'},'temperature':null,"
                   "'metadata':{}}",
                   "{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}]}", "");
}

static void request_warning_names_are_header_safe(void **state)
{
    sy_fmt_req_t out;
    const char *body = "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\","
                       "\"content\":\"x\"}],\"evil\\r\\nset-cookie: a\":1,"
                       "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":2}";
    assert_int_equal(sy_messages_fmt_request(body, strlen(body), &out), SY_OK);
    assert_string_equal(out.warnings,
                        "evil__set-cookie__a,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    free(out.body);
}

static void request_validation_errors(void **state)
{
    static const struct {
        const char *body;
        sy_err_t err;
        const char *param;
        const char *msg;
    } cases[] = {
        {"{'model':", SY_ERR_INVALID_JSON, "", NULL},
        {"[1]", SY_ERR_INVALID_REQUEST, "", "The request body must be a JSON object"},
        {"{'max_tokens':1,'messages':[{'role':'user','content':'x'}]}", SY_ERR_INVALID_REQUEST,
         "model", "model: Field required"},
        {"{'model':'','max_tokens':1,'messages':[{'role':'user','content':'x'}]}",
         SY_ERR_INVALID_REQUEST, "model", "model: String should have at least 1 character"},
        {"{'model':3,'max_tokens':1,'messages':[{'role':'user','content':'x'}]}",
         SY_ERR_INVALID_REQUEST, "model", "model: Input should be a valid string"},
        {"{'model':'m','messages':[{'role':'user','content':'x'}]}", SY_ERR_INVALID_REQUEST,
         "max_tokens", "max_tokens: Field required"},
        {"{'model':'m','max_tokens':'5','messages':[]}", SY_ERR_INVALID_REQUEST, "max_tokens",
         "max_tokens: Input should be a valid integer"},
        {"{'model':'m','max_tokens':0,'messages':[{'role':'user','content':'x'}]}",
         SY_ERR_INVALID_REQUEST, "max_tokens",
         "max_tokens: Input should be greater than or equal to 1"},
        {"{'model':'m','max_tokens':1}", SY_ERR_INVALID_REQUEST, "messages",
         "messages: Field required"},
        {"{'model':'m','max_tokens':1,'messages':{}}", SY_ERR_INVALID_REQUEST, "messages",
         "messages: Input should be a valid list"},
        {"{'model':'m','max_tokens':1,'messages':[]}", SY_ERR_INVALID_REQUEST, "messages",
         "messages: at least one message is required"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'system','content':'x'}]}",
         SY_ERR_INVALID_REQUEST, "messages.0.role",
         "messages.0.role: Input should be 'user' or 'assistant'"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user'}]}", SY_ERR_INVALID_REQUEST,
         "messages.0.content", "messages.0.content: Field required"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':5}]}",
         SY_ERR_INVALID_REQUEST, "messages.0.content",
         "messages.0.content: Input should be a valid string or list"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'a'},{'role':"
         "'assistant','content':[{'type':'image','source':{'type':'url','url':'u'}}]}]}",
         SY_ERR_INVALID_REQUEST, "messages.1.content.0",
         "messages.1.content.0: content block type 'image' is not allowed in assistant "
         "messages"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'text'}]}]}",
         SY_ERR_INVALID_REQUEST, "messages.0.content.0.text",
         "messages.0.content.0.text: Field required"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'tool_use',"
         "'id':'a','name':'b','input':{}}]}]}",
         SY_ERR_INVALID_REQUEST, "messages.0.content.0",
         "messages.0.content.0: tool_use blocks are only allowed in assistant messages"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':[{'type':'image',"
         "'source':{'type':'file','file_id':'f'}}]}]}",
         SY_ERR_INVALID_REQUEST, "messages.0.content.0.source",
         "messages.0.content.0.source: image source type 'file' is not supported for this "
         "model"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],'tools':[{"
         "'type':'web_search_20250305','name':'web_search'}]}",
         SY_ERR_INVALID_REQUEST, "tools.0",
         "tools.0: tool type 'web_search_20250305' is not supported for this model"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],'tools':[{"
         "'name':'f'}]}",
         SY_ERR_INVALID_REQUEST, "tools.0.input_schema", "tools.0.input_schema: Field required"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],'tool_choice':{"
         "'type':'maybe'}}",
         SY_ERR_INVALID_REQUEST, "tool_choice.type",
         "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],"
         "'stop_sequences':[1]}",
         SY_ERR_INVALID_REQUEST, "stop_sequences.0",
         "stop_sequences.0: Input should be a valid string"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],"
         "'temperature':'hot'}",
         SY_ERR_INVALID_REQUEST, "temperature", "temperature: Input should be a valid number"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],'system':[{"
         "'type':'image'}]}",
         SY_ERR_INVALID_REQUEST, "system.0", "system.0: system blocks must be of type 'text'"},
        {"{'model':'m','max_tokens':1,'messages':[{'role':'user','content':'x'}],'stream':1}",
         SY_ERR_INVALID_REQUEST, "stream", "stream: Input should be a valid boolean"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sy_fmt_req_t out;
        /* bodies are written with ', but the messages hold real apostrophes */
        sy_err_t err = req(cases[i].body, &out);
        if (err != cases[i].err) fail_msg("case %zu: err %d, want %d", i, err, cases[i].err);
        assert_null(out.body);
        assert_string_equal(out.err_param, cases[i].param);
        if (cases[i].msg)
            assert_string_equal(out.err_msg, cases[i].msg);
        else
            assert_true(strlen(out.err_msg) > 0);
    }
}

/* ---- response ---- */

static const sy_fmt_resp_opts_t OPTS = {.id = "gw-1", .created = 1700000000, .model = "fallback"};

static void expect_response(const char *in, const char *expected, sy_fmt_usage_t *u)
{
    char *s = sy_xstrdup(in);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_err_t err = sy_messages_fmt_response(s, strlen(s), &OPTS, &b, u);
    assert_int_equal(err, SY_OK);
    assert_json(b.base, b.len, expected);
    sy_buf_dispose(&b);
    free(s);
}

static void response_text_with_cache_usage(void **state)
{
    sy_fmt_usage_t u;
    expect_response(
        "{'id':'chatcmpl-abc','object':'chat.completion','created':1,'model':'gpt-4o-mini',"
        "'choices':[{'index':0,'message':{'role':'assistant','content':'Hello!','refusal':null},"
        "'finish_reason':'stop'}],'usage':{'prompt_tokens':100,'completion_tokens':7,"
        "'total_tokens':107,'prompt_tokens_details':{'cached_tokens':60,'cache_write_tokens':"
        "10},'completion_tokens_details':{'reasoning_tokens':2}}}",
        "{'id':'msg_abc','type':'message','role':'assistant','model':'gpt-4o-mini','content':["
        "{'type':'text','text':'Hello!'}],'stop_reason':'end_turn','stop_sequence':null,"
        "'usage':{'input_tokens':30,'cache_creation_input_tokens':10,"
        "'cache_read_input_tokens':60,'output_tokens':7}}",
        &u);
    assert_int_equal(u.prompt_tokens, 100);
    assert_int_equal(u.completion_tokens, 7);
    assert_int_equal(u.cached_tokens, 60);
    assert_int_equal(u.cache_write_tokens, 10);
    assert_int_equal(u.reasoning_tokens, 2);
}

static void response_tool_calls(void **state)
{
    expect_response(
        "{'id':'chatcmpl-t','model':'gpt-4o','choices':[{'index':0,'message':{'role':"
        "'assistant','content':null,'tool_calls':[{'id':'call_a','type':'function','function':{"
        "'name':'get_weather','arguments':'{\\'city\\':\\'Paris\\'}'}},{'id':'call_b','type':"
        "'function','function':{'name':'get_weather','arguments':'{\\'city\\':'}},{'id':"
        "'call_c','type':'function','function':{'name':'now','arguments':''}}]},"
        "'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':20,'completion_tokens':30}}",
        "{'id':'msg_t','type':'message','role':'assistant','model':'gpt-4o','content':["
        "{'type':'tool_use','id':'call_a','name':'get_weather','input':{'city':'Paris'}},"
        "{'type':'tool_use','id':'call_b','name':'get_weather','input':{}},"
        "{'type':'tool_use','id':'call_c','name':'now','input':{}}],"
        "'stop_reason':'tool_use','stop_sequence':null,'usage':{'input_tokens':20,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':30}}",
        NULL);
    /* text + tool call with finish_reason stop (some servers) -> tool_use */
    expect_response(
        "{'id':'x1','model':'v','choices':[{'message':{'content':'Sure.','tool_calls':[{'id':"
        "'c1','function':{'name':'f','arguments':'{}'}}]},'finish_reason':'stop'}]}",
        "{'id':'msg_x1','type':'message','role':'assistant','model':'v','content':[{'type':"
        "'text','text':'Sure.'},{'type':'tool_use','id':'c1','name':'f','input':{}}],"
        "'stop_reason':'tool_use','stop_sequence':null,'usage':{'input_tokens':0,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':0}}",
        NULL);
}

static void response_finish_reasons_and_fallbacks(void **state)
{
    sy_fmt_usage_t u;
    /* no id, no model, no usage: options are used; length -> max_tokens; reasoning -> thinking */
    expect_response("{'choices':[{'message':{'content':'abc','reasoning_content':'think'},"
                    "'finish_reason':'length'}]}",
                    "{'id':'msg_gw-1','type':'message','role':'assistant','model':'fallback',"
                    "'content':[{'type':'thinking','thinking':'think','signature':''},{'type':"
                    "'text','text':'abc'}],'stop_reason':'max_tokens','stop_sequence':null,"
                    "'usage':{'input_tokens':0,'cache_creation_input_tokens':0,"
                    "'cache_read_input_tokens':0,'output_tokens':0}}",
                    &u);
    assert_int_equal(u.prompt_tokens, -1);
    assert_int_equal(u.completion_tokens, -1);
    expect_response("{'id':'msg_keep','model':'m','choices':[{'message':{'content':''},"
                    "'finish_reason':'content_filter'}]}",
                    "{'id':'msg_keep','type':'message','role':'assistant','model':'m','content':"
                    "[],'stop_reason':'refusal','stop_sequence':null,'usage':{'input_tokens':0,"
                    "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
                    "'output_tokens':0}}",
                    NULL);
    expect_response("{'id':'r','model':'m','choices':[{'message':{'content':null,'refusal':"
                    "'I cannot help with that.'},'finish_reason':'stop'}]}",
                    "{'id':'msg_r','type':'message','role':'assistant','model':'m','content':"
                    "[{'type':'text','text':'I cannot help with that.'}],'stop_reason':"
                    "'refusal','stop_sequence':null,'usage':{'input_tokens':0,"
                    "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
                    "'output_tokens':0}}",
                    NULL);
}

static void response_broken(void **state)
{
    static const char *const bad[] = {"not json", "[]", "{\"id\":\"x\"}", "{\"choices\":[]}",
                                      "{\"choices\":[{\"message\":\"hi\"}]}"};
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sy_messages_fmt_response(bad[i], strlen(bad[i]), &OPTS, &b, NULL),
                         SY_ERR_UPSTREAM_BROKEN);
        assert_int_equal(b.len, 0);
    }
    sy_buf_dispose(&b);
}

/* ---- errors ---- */

static void expect_error(int status, const char *body, const char *expected)
{
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_messages_fmt_error(status, body, strlen(body), &b);
    assert_json(b.base, b.len, expected);
    sy_buf_dispose(&b);
}

static void errors_mapped(void **state)
{
    expect_error(429,
                 "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                 "\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
                 "{'type':'error','error':{'type':'rate_limit_error','message':'Rate limit "
                 "reached'}}");
    expect_error(400, "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\"}}",
                 "{'type':'error','error':{'type':'invalid_request_error','message':'bad'}}");
    expect_error(401, "{\"error\":\"no key\"}",
                 "{'type':'error','error':{'type':'authentication_error','message':'no key'}}");
    expect_error(403, "{\"message\":\"forbidden\"}",
                 "{'type':'error','error':{'type':'permission_error','message':'forbidden'}}");
    expect_error(404, "{\"detail\":\"Not Found\"}",
                 "{'type':'error','error':{'type':'not_found_error','message':'Not Found'}}");
    expect_error(413, "",
                 "{'type':'error','error':{'type':'request_too_large','message':"
                 "'upstream returned HTTP 413'}}");
    expect_error(529,
                 "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                 "\"Overloaded\"}}",
                 "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}");
    expect_error(500, "<html>\n<b>Internal\x01 Error</b></html>\n",
                 "{'type':'error','error':{'type':'api_error','message':'upstream returned "
                 "HTTP 500: <html> <b>Internal  Error</b></html>'}}");
    expect_error(503, "{\"error\":{}}",
                 "{'type':'error','error':{'type':'overloaded_error','message':'upstream returned "
                 "HTTP 503: {\\'error\\':{}}'}}");
    /* a long body is cut to a prefix */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_messages_fmt_error(502, big, strlen(big), &b);
    assert_true(b.len < 400);
    sy_buf_dispose(&b);
}

static void error_make(void **state)
{
    sy_buf_t b;
    sy_buf_init(&b, 1024);
    sy_messages_fmt_error_make("invalid_request_error", "max_tokens: Field \"required\"", &b);
    assert_json(b.base, b.len,
                "{'type':'error','error':{'type':'invalid_request_error','message':'max_tokens: "
                "Field \\'required\\''}}");
    sy_buf_dispose(&b);
}

/* ---- stream ---- */

/* Feeds data events (' for ") and returns the output as [[event, data], ...]. */
static json_t *run_stream(const char *const *events, size_t n, sy_err_t *last_err, bool finish,
                          sy_messages_stream_t **keep)
{
    sy_messages_stream_t *s = sy_messages_stream_new(&OPTS);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    sy_err_t err = SY_OK;
    for (size_t i = 0; i < n; i++) {
        char *d = sy_xstrdup(events[i]);
        for (char *p = d; *p; p++)
            if (*p == '\'') *p = '"';
        err = sy_messages_stream_event(s, sy_str_c(d), &b);
        free(d);
    }
    if (finish) err = sy_messages_stream_finish(s, &b);
    if (last_err) *last_err = err;
    json_t *arr = json_array();
    size_t pos = 0;
    while (pos < b.len) {
        char *end = memmem(b.base + pos, b.len - pos, "\n\n", 2);
        assert_non_null(end);
        char *frame = b.base + pos;
        assert_memory_equal(frame, "event: ", 7);
        char *nl = memchr(frame, '\n', (size_t)(end - frame));
        assert_non_null(nl);
        assert_memory_equal(nl + 1, "data: ", 6);
        json_t *data = json_loadb(nl + 7, (size_t)(end - nl - 7), 0, NULL);
        if (!data) fail_msg("bad data: %.*s", (int)(end - nl - 7), nl + 7);
        /* the event name must equal the data's type */
        assert_int_equal(strlen(json_string_value(json_object_get(data, "type"))),
                         (size_t)(nl - frame - 7));
        assert_memory_equal(json_string_value(json_object_get(data, "type")), frame + 7,
                            (size_t)(nl - frame - 7));
        json_array_append_new(arr, json_pack("[s#,o]", frame + 7, (int)(nl - frame - 7), data));
        pos = (size_t)(end - b.base) + 2;
    }
    sy_buf_dispose(&b);
    if (keep)
        *keep = s;
    else
        sy_messages_stream_free(s);
    return arr;
}

static void assert_events(json_t *actual, const char *expected)
{
    char *s = json_dumps(actual, JSON_COMPACT);
    assert_json(s, strlen(s), expected);
    free(s);
    json_decref(actual);
}

#define N(a) (sizeof(a) / sizeof *(a))

static void stream_text(void **state)
{
    static const char *const ev[] = {
        "{'id':'chatcmpl-s1','object':'chat.completion.chunk','created':1,'model':"
        "'gpt-4o-mini','choices':[{'index':0,'delta':{'role':'assistant','content':''},"
        "'finish_reason':null}],'usage':null}",
        "{'id':'chatcmpl-s1','model':'gpt-4o-mini','choices':[{'index':0,'delta':{'content':"
        "'Hel'},'finish_reason':null}],'usage':null}",
        "{'id':'chatcmpl-s1','model':'gpt-4o-mini','choices':[{'index':0,'delta':{'content':"
        "'lo'},'finish_reason':null}],'usage':null}",
        "{'id':'chatcmpl-s1','model':'gpt-4o-mini','choices':[{'index':0,'delta':{},"
        "'finish_reason':'stop'}],'usage':null}",
        "{'id':'chatcmpl-s1','model':'gpt-4o-mini','choices':[],'usage':{'prompt_tokens':12,"
        "'completion_tokens':2,'total_tokens':14,'prompt_tokens_details':{'cached_tokens':4}}}",
        "[DONE]",
    };
    sy_err_t err;
    sy_messages_stream_t *s;
    json_t *out = run_stream(ev, N(ev), &err, false, &s);
    assert_int_equal(err, SY_OK);
    assert_events(
        out, "[['message_start',{'type':'message_start','message':{'id':'msg_s1','type':'message',"
             "'role':'assistant','model':'gpt-4o-mini','content':[],'stop_reason':null,"
             "'stop_sequence':null,'usage':{'input_tokens':0,'output_tokens':0}}}],"
             "['content_block_start',{'type':'content_block_start','index':0,'content_block':{"
             "'type':'text','text':''}}],"
             "['content_block_delta',{'type':'content_block_delta','index':0,'delta':{'type':"
             "'text_delta','text':'Hel'}}],"
             "['content_block_delta',{'type':'content_block_delta','index':0,'delta':{'type':"
             "'text_delta','text':'lo'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':0}],"
             "['message_delta',{'type':'message_delta','delta':{'stop_reason':'end_turn',"
             "'stop_sequence':null},'usage':{'input_tokens':8,'cache_creation_input_tokens':0,"
             "'cache_read_input_tokens':4,'output_tokens':2}}],"
             "['message_stop',{'type':'message_stop'}]]");
    const sy_fmt_usage_t *u = sy_messages_stream_usage(s);
    assert_int_equal(u->prompt_tokens, 12);
    assert_int_equal(u->completion_tokens, 2);
    assert_int_equal(u->cached_tokens, 4);
    /* after message_stop: nothing more, finish is a no-op */
    sy_buf_t b;
    sy_buf_init(&b, 1024);
    assert_int_equal(sy_messages_stream_event(s, SY_STR_LIT("[DONE]"), &b), SY_OK);
    assert_int_equal(sy_messages_stream_finish(s, &b), SY_OK);
    assert_int_equal(b.len, 0);
    sy_buf_dispose(&b);
    sy_messages_stream_free(s);
}

static void stream_parallel_tool_calls(void **state)
{
    static const char *const ev[] = {
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{'role':"
        "'assistant','content':'Let me check.'},'finish_reason':null}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{'tool_calls':[{"
        "'index':0,'id':'call_1','type':'function','function':{'name':'get_weather',"
        "'arguments':''}}]},'finish_reason':null}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{'tool_calls':[{"
        "'index':0,'function':{'arguments':'{\\'city\\':'}}]},'finish_reason':null}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{'tool_calls':[{"
        "'index':0,'function':{'arguments':' \\'Paris\\'}'}}]},'finish_reason':null}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{'tool_calls':[{"
        "'index':1,'id':'call_2','type':'function','function':{'name':'get_weather',"
        "'arguments':'{\\'city\\': \\'Rome\\'}'}}]},'finish_reason':null}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[{'index':0,'delta':{},"
        "'finish_reason':'tool_calls'}]}",
        "{'id':'chatcmpl-p','model':'gpt-4o','choices':[],'usage':{'prompt_tokens':50,"
        "'completion_tokens':40,'total_tokens':90}}",
        "[DONE]",
    };
    sy_err_t err;
    json_t *out = run_stream(ev, N(ev), &err, false, NULL);
    assert_int_equal(err, SY_OK);
    assert_events(
        out, "[['message_start',{'type':'message_start','message':{'id':'msg_p','type':'message',"
             "'role':'assistant','model':'gpt-4o','content':[],'stop_reason':null,"
             "'stop_sequence':null,'usage':{'input_tokens':0,'output_tokens':0}}}],"
             "['content_block_start',{'type':'content_block_start','index':0,'content_block':{"
             "'type':'text','text':''}}],"
             "['content_block_delta',{'type':'content_block_delta','index':0,'delta':{'type':"
             "'text_delta','text':'Let me check.'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':0}],"
             "['content_block_start',{'type':'content_block_start','index':1,'content_block':{"
             "'type':'tool_use','id':'call_1','name':'get_weather','input':{}}}],"
             "['content_block_delta',{'type':'content_block_delta','index':1,'delta':{'type':"
             "'input_json_delta','partial_json':'{\\'city\\':'}}],"
             "['content_block_delta',{'type':'content_block_delta','index':1,'delta':{'type':"
             "'input_json_delta','partial_json':' \\'Paris\\'}'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':1}],"
             "['content_block_start',{'type':'content_block_start','index':2,'content_block':{"
             "'type':'tool_use','id':'call_2','name':'get_weather','input':{}}}],"
             "['content_block_delta',{'type':'content_block_delta','index':2,'delta':{'type':"
             "'input_json_delta','partial_json':'{\\'city\\': \\'Rome\\'}'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':2}],"
             "['message_delta',{'type':'message_delta','delta':{'stop_reason':'tool_use',"
             "'stop_sequence':null},'usage':{'input_tokens':50,'cache_creation_input_tokens':0,"
             "'cache_read_input_tokens':0,'output_tokens':40}}],"
             "['message_stop',{'type':'message_stop'}]]");
}

static void stream_tool_calls_without_index(void **state)
{
    /* some OpenAI-compatible servers send each call whole and omit index */
    static const char *const ev[] = {
        "{'id':'g','model':'gem','choices':[{'index':0,'delta':{'tool_calls':[{'id':'a','type':"
        "'function','function':{'name':'f','arguments':'{}'}}]}}]}",
        "{'id':'g','model':'gem','choices':[{'index':0,'delta':{'tool_calls':[{'id':'b','type':"
        "'function','function':{'name':'g','arguments':'{\\'x\\':1}'}}]},'finish_reason':"
        "'stop'}]}",
        "[DONE]",
    };
    sy_err_t err;
    json_t *out = run_stream(ev, N(ev), &err, false, NULL);
    assert_int_equal(err, SY_OK);
    assert_events(
        out,
        "[['message_start',{'type':'message_start','message':{'id':'msg_g','type':'message',"
        "'role':'assistant','model':'gem','content':[],'stop_reason':null,'stop_sequence':null,"
        "'usage':{'input_tokens':0,'output_tokens':0}}}],"
        "['content_block_start',{'type':'content_block_start','index':0,'content_block':{"
        "'type':'tool_use','id':'a','name':'f','input':{}}}],"
        "['content_block_delta',{'type':'content_block_delta','index':0,'delta':{'type':"
        "'input_json_delta','partial_json':'{}'}}],"
        "['content_block_stop',{'type':'content_block_stop','index':0}],"
        "['content_block_start',{'type':'content_block_start','index':1,'content_block':{"
        "'type':'tool_use','id':'b','name':'g','input':{}}}],"
        "['content_block_delta',{'type':'content_block_delta','index':1,'delta':{'type':"
        "'input_json_delta','partial_json':'{\\'x\\':1}'}}],"
        "['content_block_stop',{'type':'content_block_stop','index':1}],"
        "['message_delta',{'type':'message_delta','delta':{'stop_reason':'tool_use',"
        "'stop_sequence':null},'usage':{'output_tokens':0}}],"
        "['message_stop',{'type':'message_stop'}]]");
}

static void stream_reasoning_then_text(void **state)
{
    static const char *const ev[] = {
        "{'id':'c','model':'ds','choices':[{'index':0,'delta':{'reasoning_content':'Let me "
        "think'}}]}",
        "{'id':'c','model':'ds','choices':[{'index':0,'delta':{'content':'42'}}]}",
        "{'id':'c','model':'ds','choices':[{'index':0,'delta':{},'finish_reason':'length'}]}",
    };
    sy_err_t err;
    /* no [DONE], no usage: finish() completes the message */
    json_t *out = run_stream(ev, N(ev), &err, true, NULL);
    assert_int_equal(err, SY_OK);
    assert_events(
        out, "[['message_start',{'type':'message_start','message':{'id':'msg_c','type':'message',"
             "'role':'assistant','model':'ds','content':[],'stop_reason':null,'stop_sequence':null,"
             "'usage':{'input_tokens':0,'output_tokens':0}}}],"
             "['content_block_start',{'type':'content_block_start','index':0,'content_block':{"
             "'type':'thinking','thinking':'','signature':''}}],"
             "['content_block_delta',{'type':'content_block_delta','index':0,'delta':{'type':"
             "'thinking_delta','thinking':'Let me think'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':0}],"
             "['content_block_start',{'type':'content_block_start','index':1,'content_block':{"
             "'type':'text','text':''}}],"
             "['content_block_delta',{'type':'content_block_delta','index':1,'delta':{'type':"
             "'text_delta','text':'42'}}],"
             "['content_block_stop',{'type':'content_block_stop','index':1}],"
             "['message_delta',{'type':'message_delta','delta':{'stop_reason':'max_tokens',"
             "'stop_sequence':null},'usage':{'output_tokens':0}}],"
             "['message_stop',{'type':'message_stop'}]]");
}

static void stream_error_frame(void **state)
{
    static const char *const ev[] = {
        "{'id':'c','model':'m','choices':[{'index':0,'delta':{'content':'Hi'}}]}",
        "{'error':{'message':'The server had an error','type':'server_error'}}",
        "{'id':'c','model':'m','choices':[{'index':0,'delta':{'content':'ignored'}}]}",
    };
    sy_messages_stream_t *s = sy_messages_stream_new(&OPTS);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    for (int i = 0; i < 3; i++) {
        char *d = sy_xstrdup(ev[i]);
        for (char *p = d; *p; p++)
            if (*p == '\'') *p = '"';
        size_t before = b.len;
        sy_err_t err = sy_messages_stream_event(s, sy_str_c(d), &b);
        free(d);
        if (i == 1) {
            assert_int_equal(err, SY_ERR_UPSTREAM_STATUS);
            const char *want = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
                               "\"api_error\",\"message\":\"The server had an error\"}}\n\n";
            assert_int_equal(b.len - before, strlen(want));
            assert_memory_equal(b.base + before, want, strlen(want));
        } else if (i == 2) {
            assert_int_equal(err, SY_OK);
            assert_int_equal(b.len, before);
        }
    }
    assert_int_equal(sy_messages_stream_finish(s, &b), SY_OK);
    sy_buf_dispose(&b);
    sy_messages_stream_free(s);
}

static void stream_malformed(void **state)
{
    sy_messages_stream_t *s = sy_messages_stream_new(&OPTS);
    sy_buf_t b;
    sy_buf_init(&b, 1 << 20);
    assert_int_equal(sy_messages_stream_event(s, SY_STR_LIT("{not json"), &b),
                     SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(sy_messages_stream_event(s, SY_STR_LIT("[1,2]"), &b), SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(sy_messages_stream_event(s, SY_STR_LIT("{\"choices\":5}"), &b),
                     SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(b.len, 0);
    /* the upstream closed with neither finish_reason nor [DONE] */
    assert_int_equal(
        sy_messages_stream_event(
            s, SY_STR_LIT("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}"), &b),
        SY_OK);
    assert_int_equal(sy_messages_stream_finish(s, &b), SY_ERR_UPSTREAM_BROKEN);
    sy_buf_dispose(&b);
    sy_messages_stream_free(s);
}

static void stream_done_only(void **state)
{
    static const char *const ev[] = {"[DONE]"};
    sy_err_t err;
    json_t *out = run_stream(ev, N(ev), &err, true, NULL);
    assert_int_equal(err, SY_OK);
    assert_events(out,
                  "[['message_start',{'type':'message_start','message':{'id':'msg_gw-1','type':"
                  "'message','role':'assistant','model':'fallback','content':[],'stop_reason':null,"
                  "'stop_sequence':null,'usage':{'input_tokens':0,'output_tokens':0}}}],"
                  "['message_delta',{'type':'message_delta','delta':{'stop_reason':'end_turn',"
                  "'stop_sequence':null},'usage':{'output_tokens':0}}],"
                  "['message_stop',{'type':'message_stop'}]]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_minimal_text),
        cmocka_unit_test(request_system_string_and_blocks),
        cmocka_unit_test(request_multi_turn),
        cmocka_unit_test(request_images),
        cmocka_unit_test(request_documents),
        cmocka_unit_test(request_tools_and_choices),
        cmocka_unit_test(request_tool_round_trip),
        cmocka_unit_test(request_parameters_and_warnings),
        cmocka_unit_test(request_warning_names_are_header_safe),
        cmocka_unit_test(request_validation_errors),
        cmocka_unit_test(response_text_with_cache_usage),
        cmocka_unit_test(response_tool_calls),
        cmocka_unit_test(response_finish_reasons_and_fallbacks),
        cmocka_unit_test(response_broken),
        cmocka_unit_test(errors_mapped),
        cmocka_unit_test(error_make),
        cmocka_unit_test(stream_text),
        cmocka_unit_test(stream_parallel_tool_calls),
        cmocka_unit_test(stream_tool_calls_without_index),
        cmocka_unit_test(stream_reasoning_then_text),
        cmocka_unit_test(stream_error_frame),
        cmocka_unit_test(stream_malformed),
        cmocka_unit_test(stream_done_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
