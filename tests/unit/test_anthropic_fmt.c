#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/anthropic_fmt.h"

/* Test JSON is written with single quotes; q() turns them into double quotes. */
static const char *q(const char *s)
{
    static char ring[8][16384];
    static int next;
    char *d = ring[next++ % 8];
    size_t n = strlen(s);
    assert_true(n < sizeof ring[0]);
    for (size_t i = 0; i <= n; i++)
        d[i] = s[i] == '\'' ? '"' : s[i];
    return d;
}

static void assert_json(const char *actual, size_t alen, const char *expected)
{
    json_error_t e;
    json_t *x = json_loads(expected, 0, &e);
    if (!x) fail_msg("bad expected JSON (%s): %s", e.text, expected);
    json_t *a = json_loadb(actual, alen, 0, &e);
    if (!a || !json_equal(a, x))
        fail_msg("JSON differs\n actual:   %.*s\n expected: %s", (int)alen, actual, expected);
    json_decref(a);
    json_decref(x);
}

static sy_fmt_req_opts_t opts(void)
{
    return (sy_fmt_req_opts_t){.upstream_model = "claude-sonnet-4-5", .default_max_tokens = 4096};
}

/* Translates q(in) and compares the upstream body with q(expected). */
static void req_ok_o(const char *in, const sy_fmt_req_opts_t *o, const char *expected,
                     const char *warnings)
{
    sy_fmt_req_t r;
    in = q(in);
    sy_err_t err = sy_anthropic_fmt_request(in, strlen(in), o, &r);
    if (err) fail_msg("error %d param '%s': %s", err, r.err_param, r.err_msg);
    assert_json(r.body, r.len, q(expected));
    assert_string_equal(r.warnings, warnings);
    free(r.body);
}

static void req_ok(const char *in, const char *expected)
{
    sy_fmt_req_opts_t o = opts();
    req_ok_o(in, &o, expected, "");
}

static void req_err_o(const char *in, const sy_fmt_req_opts_t *o, sy_err_t want, const char *param)
{
    sy_fmt_req_t r;
    in = q(in);
    sy_err_t err = sy_anthropic_fmt_request(in, strlen(in), o, &r);
    if (err != want) fail_msg("want error %d, got %d for %s", want, err, in);
    assert_null(r.body);
    assert_string_equal(r.err_param, param);
    assert_true(r.err_msg[0] != '\0');
}

static void req_err(const char *in, const char *param)
{
    sy_fmt_req_opts_t o = opts();
    req_err_o(in, &o, SY_ERR_INVALID_REQUEST, param);
}

/* ------------------------------------------------------------------ requests */

static void request_plain_text(void **state)
{
    sy_fmt_req_t r;
    const char *in = q("{'model':'m','messages':[{'role':'user','content':'Hi'}]}");
    sy_fmt_req_opts_t o = opts();
    assert_int_equal(sy_anthropic_fmt_request(in, strlen(in), &o, &r), SY_OK);
    assert_json(r.body, r.len,
                q("{'model':'claude-sonnet-4-5','max_tokens':4096,"
                  "'messages':[{'role':'user','content':'Hi'}]}"));
    assert_int_equal(r.len, strlen(r.body));
    assert_false(r.stream);
    assert_false(r.include_usage);
    assert_string_equal(r.warnings, "");
    free(r.body);
}

static void request_system_and_developer_joined(void **state)
{
    req_ok("{'model':'m','messages':[{'role':'system','content':'Be brief.'},"
           "{'role':'developer','content':[{'type':'text','text':'Use French.'},"
           "{'type':'text','text':'No emoji.'}]},{'role':'user','content':'Hi'},"
           "{'role':'system','content':''}]}",
           "{'model':'claude-sonnet-4-5','max_tokens':4096,"
           "'system':'Be brief.\\n\\nUse French.\\n\\nNo emoji.',"
           "'messages':[{'role':'user','content':'Hi'}]}");
    req_err("{'messages':[{'role':'system','content':[{'type':'image_url','image_url':"
            "{'url':'https://x/y.png'}}]},{'role':'user','content':'Hi'}]}",
            "messages[0].content[0].type");
}

static void request_merges_consecutive_roles(void **state)
{
    req_ok("{'messages':[{'role':'user','content':'a'},{'role':'user','content':"
           "[{'type':'text','text':'b'}]},{'role':'assistant','content':'x'},"
           "{'role':'assistant','content':[{'type':'text','text':'y'}]},"
           "{'role':'user','content':'z'},{'role':'user','content':''}]}",
           "{'model':'claude-sonnet-4-5','max_tokens':4096,'messages':["
           "{'role':'user','content':[{'type':'text','text':'a'},{'type':'text','text':'b'}]},"
           "{'role':'assistant','content':[{'type':'text','text':'x'},{'type':'text','text':'y'}]},"
           "{'role':'user','content':'z'}]}");
}

static void request_images(void **state)
{
    req_ok("{'messages':[{'role':'user','content':[{'type':'text','text':'What is this?'},"
           "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo=',"
           "'detail':'high'}},{'type':'image_url','image_url':{'url':'https://ex.com/a.jpg'}}]}]}",
           "{'model':'claude-sonnet-4-5','max_tokens':4096,'messages':[{'role':'user','content':["
           "{'type':'text','text':'What is this?'},"
           "{'type':'image','source':{'type':'base64','media_type':'image/png',"
           "'data':'iVBORw0KGgo='}},"
           "{'type':'image','source':{'type':'url','url':'https://ex.com/a.jpg'}}]}]}");
    req_err("{'messages':[{'role':'user','content':[{'type':'text','text':'a'},"
            "{'type':'image_url','image_url':{'url':'data:image/png,abc'}}]}]}",
            "messages[0].content[1].image_url.url");
    req_err("{'messages':[{'role':'user','content':[{'type':'image_url','image_url':"
            "{'url':'ftp://x/y.png'}}]}]}",
            "messages[0].content[0].image_url.url");
    req_err("{'messages':[{'role':'user','content':[{'type':'input_audio','input_audio':"
            "{'data':'AAA','format':'wav'}}]}]}",
            "messages[0].content[0].type");
    req_err("{'messages':[{'role':'user','content':[{'type':'file','file':{'file_id':'f'}}]}]}",
            "messages[0].content[0].type");
    req_err("{'messages':[{'role':'user','content':[{'type':'text','text':'a'}]},"
            "{'role':'assistant','content':[{'type':'image_url','image_url':"
            "{'url':'https://x/y.png'}}]}]}",
            "messages[1].content[0].type");
}

#define TOOLS_IN                                                                                   \
    "'tools':[{'type':'function','function':{'name':'get_weather','description':'Weather',"        \
    "'parameters':{'type':'object','properties':{'city':{'type':'string'}},"                       \
    "'required':['city']}}},{'type':'function','function':{'name':'now'}}]"
#define TOOLS_OUT                                                                                  \
    "'tools':[{'name':'get_weather','description':'Weather','input_schema':{'type':'object',"      \
    "'properties':{'city':{'type':'string'}},'required':['city']}},"                               \
    "{'name':'now','input_schema':{'type':'object','properties':{}}}]"
#define MSG_IN "'messages':[{'role':'user','content':'Weather in Paris?'}]"
#define MSG_OUT                                                                                    \
    "'model':'claude-sonnet-4-5','max_tokens':4096,"                                               \
    "'messages':[{'role':'user','content':'Weather in Paris?'}]"

static void request_tools_and_tool_choice(void **state)
{
    req_ok("{" MSG_IN "," TOOLS_IN "}", "{" MSG_OUT "," TOOLS_OUT "}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':'auto'}",
           "{" MSG_OUT "," TOOLS_OUT ",'tool_choice':{'type':'auto'}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':'required'}",
           "{" MSG_OUT "," TOOLS_OUT ",'tool_choice':{'type':'any'}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':'none'}",
           "{" MSG_OUT "," TOOLS_OUT ",'tool_choice':{'type':'none'}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':{'type':'function','function':{'name':'now'}}}",
           "{" MSG_OUT "," TOOLS_OUT ",'tool_choice':{'type':'tool','name':'now'}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'parallel_tool_calls':false}",
           "{" MSG_OUT "," TOOLS_OUT
           ",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':'required','parallel_tool_calls':false}",
           "{" MSG_OUT "," TOOLS_OUT
           ",'tool_choice':{'type':'any','disable_parallel_tool_use':true}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'tool_choice':'none','parallel_tool_calls':false}",
           "{" MSG_OUT "," TOOLS_OUT ",'tool_choice':{'type':'none'}}");
    req_ok("{" MSG_IN "," TOOLS_IN ",'parallel_tool_calls':true}", "{" MSG_OUT "," TOOLS_OUT "}");
    /* without tools: harmless choices are dropped, forcing one is an error */
    req_ok("{" MSG_IN ",'tool_choice':'none','parallel_tool_calls':false}", "{" MSG_OUT "}");
    req_err("{" MSG_IN ",'tool_choice':'required'}", "tool_choice");
    req_err("{" MSG_IN "," TOOLS_IN ",'tool_choice':'sometimes'}", "tool_choice");
    req_err("{" MSG_IN "," TOOLS_IN ",'tool_choice':{'type':'function'}}", "tool_choice");
    req_err("{" MSG_IN ",'tools':[{'type':'custom','custom':{'name':'x'}}]}", "tools[0].type");
    req_err("{" MSG_IN ",'tools':[{'type':'function','function':{}}]}", "tools[0].function.name");
}

static void request_tool_calls_and_results(void **state)
{
    req_ok("{'messages':[{'role':'user','content':'Weather in Paris and Rome?'},"
           "{'role':'assistant','content':null,'tool_calls':["
           "{'id':'toolu_01A','type':'function','function':{'name':'get_weather',"
           "'arguments':'{\\'city\\':\\'Paris\\'}'}},"
           "{'id':'toolu_01B','type':'function','function':{'name':'now','arguments':''}}]},"
           "{'role':'tool','tool_call_id':'toolu_01A','content':'18C'},"
           "{'role':'tool','tool_call_id':'toolu_01B','content':[{'type':'text','text':'noon'}]},"
           "{'role':'user','content':'Thanks. Summarize.'}]}",
           "{'model':'claude-sonnet-4-5','max_tokens':4096,'messages':["
           "{'role':'user','content':'Weather in Paris and Rome?'},"
           "{'role':'assistant','content':["
           "{'type':'tool_use','id':'toolu_01A','name':'get_weather','input':{'city':'Paris'}},"
           "{'type':'tool_use','id':'toolu_01B','name':'now','input':{}}]},"
           "{'role':'user','content':["
           "{'type':'tool_result','tool_use_id':'toolu_01A','content':'18C'},"
           "{'type':'tool_result','tool_use_id':'toolu_01B','content':"
           "[{'type':'text','text':'noon'}]},"
           "{'type':'text','text':'Thanks. Summarize.'}]}]}");
    /* text beside tool calls is kept in front of them; a tool result after user text is
     * moved before it (Anthropic wants tool_result blocks first) */
    req_ok(
        "{'messages':[{'role':'user','content':'q'},{'role':'assistant','content':'Let me look.',"
        "'tool_calls':[{'id':'t1','type':'function','function':{'name':'now','arguments':'{}'}}]},"
        "{'role':'user','content':'hurry'},{'role':'tool','tool_call_id':'t1','content':'noon'}]}",
        "{'model':'claude-sonnet-4-5','max_tokens':4096,'messages':["
        "{'role':'user','content':'q'},{'role':'assistant','content':["
        "{'type':'text','text':'Let me look.'},"
        "{'type':'tool_use','id':'t1','name':'now','input':{}}]},"
        "{'role':'user','content':[{'type':'tool_result','tool_use_id':'t1','content':'noon'},"
        "{'type':'text','text':'hurry'}]}]}");
    req_err("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':["
            "{'id':'t0','type':'function','function':{'name':'now','arguments':'{}'}},"
            "{'id':'t1','type':'function','function':{'name':'now','arguments':'{bad'}}]}]}",
            "messages[1].tool_calls[1].function.arguments");
    req_err("{'messages':[{'role':'user','content':'q'},{'role':'assistant','tool_calls':["
            "{'id':'t1','type':'function','function':{'name':'now','arguments':'[1]'}}]}]}",
            "messages[1].tool_calls[0].function.arguments");
    req_err("{'messages':[{'role':'user','content':'q'},{'role':'tool','content':'x'}]}",
            "messages[1].tool_call_id");
}

static void request_response_format(void **state)
{
    req_ok("{" MSG_IN ",'response_format':{'type':'json_schema','json_schema':{'name':'weather',"
           "'strict':true,'schema':{'type':'object','properties':{'t':{'type':'number'}}}}}}",
           "{" MSG_OUT ",'tools':[{'name':'sy_response_format__weather','description':"
           "'Respond by calling this tool with a JSON object that matches its schema.',"
           "'input_schema':{'type':'object','properties':{'t':{'type':'number'}}}}],"
           "'tool_choice':{'type':'tool','name':'sy_response_format__weather'}}");
    req_ok("{" MSG_IN ",'response_format':{'type':'json_object'}}",
           "{" MSG_OUT ",'tools':[{'name':'sy_response_format__json_object','description':"
           "'Respond by calling this tool with a JSON object.','input_schema':{'type':'object'}}],"
           "'tool_choice':{'type':'tool','name':'sy_response_format__json_object'}}");
    req_ok("{" MSG_IN ",'response_format':{'type':'text'}}", "{" MSG_OUT "}");
    /* with client tools the model must call one of them or the format tool */
    req_ok("{" MSG_IN ",'tools':[{'type':'function','function':{'name':'now'}}],"
           "'response_format':{'type':'json_object'}}",
           "{" MSG_OUT ",'tools':[{'name':'now','input_schema':{'type':'object','properties':{}}},"
           "{'name':'sy_response_format__json_object','description':"
           "'Respond by calling this tool with a JSON object.','input_schema':{'type':'object'}}],"
           "'tool_choice':{'type':'any'}}");
    req_ok("{" MSG_IN ",'tools':[{'type':'function','function':{'name':'now'}}],"
           "'tool_choice':{'type':'function','function':{'name':'now'}},"
           "'response_format':{'type':'json_object'}}",
           "{" MSG_OUT ",'tools':[{'name':'now','input_schema':{'type':'object','properties':{}}},"
           "{'name':'sy_response_format__json_object','description':"
           "'Respond by calling this tool with a JSON object.','input_schema':{'type':'object'}}],"
           "'tool_choice':{'type':'tool','name':'now'}}");
    /* long schema names are cut to Anthropic's 64-character tool name limit */
    req_ok("{" MSG_IN ",'response_format':{'type':'json_schema','json_schema':{'name':"
           "'abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij','description':'d'}}}",
           "{" MSG_OUT ",'tools':[{'name':"
           "'sy_response_format__abcdefghijabcdefghijabcdefghijabcdefghijabcd',"
           "'description':'d','input_schema':{'type':'object'}}],'tool_choice':{'type':'tool',"
           "'name':'sy_response_format__abcdefghijabcdefghijabcdefghijabcdefghijabcd'}}");
    req_err("{" MSG_IN ",'response_format':{'type':'json_schema','json_schema':{}}}",
            "response_format.json_schema.name");
    req_err("{" MSG_IN ",'response_format':{'type':'yaml'}}", "response_format.type");
}

static void request_unsupported_dropped_or_rejected(void **state)
{
    sy_fmt_req_opts_t o = opts();
    const char *in = "{" MSG_IN ",'seed':7,'n':1,'logprobs':false,'presence_penalty':0.5,"
                     "'frequency_penalty':0,'top_logprobs':null,'reasoning_effort':'low',"
                     "'foo':{'x':1},'stream_options':{'include_usage':true}}";
    req_ok_o(in, &o, "{" MSG_OUT "}", "seed,presence_penalty,reasoning_effort,foo");
    o.reject_unsupported = true;
    req_err_o(in, &o, SY_ERR_INVALID_REQUEST, "seed");
    req_err_o("{" MSG_IN ",'n':2}", &o, SY_ERR_INVALID_REQUEST, "n");
    req_err_o("{" MSG_IN ",'logit_bias':{'1':2}}", &o, SY_ERR_INVALID_REQUEST, "logit_bias");
    req_err_o("{" MSG_IN ",'modalities':['text','audio']}", &o, SY_ERR_INVALID_REQUEST,
              "modalities");
    /* neutral values pass even when rejecting */
    req_ok_o("{" MSG_IN ",'n':1,'logprobs':false,'seed':null,'store':false}", &o, "{" MSG_OUT "}",
             "");
    /* warnings never overflow their buffer */
    o.reject_unsupported = false;
    char big[4096] = "{" MSG_IN;
    for (int i = 0; i < 40; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), ",'unknown_parameter_%02d':1", i);
    strcat(big, "}");
    sy_fmt_req_t r;
    const char *b = q(big);
    assert_int_equal(sy_anthropic_fmt_request(b, strlen(b), &o, &r), SY_OK);
    assert_true(strlen(r.warnings) < sizeof r.warnings);
    assert_memory_equal(r.warnings, "unknown_parameter_00,unknown_parameter_01,", 42);
    free(r.body);
}

static void request_temperature_clamped(void **state)
{
    sy_fmt_req_opts_t o = opts();
    req_ok_o("{" MSG_IN ",'temperature':1.5}", &o, "{" MSG_OUT ",'temperature':1.0}",
             "temperature");
    req_ok_o("{" MSG_IN ",'temperature':0.2,'top_p':0.9}", &o,
             "{" MSG_OUT ",'temperature':0.2,'top_p':0.9}", "");
    o.reject_unsupported = true;
    req_err_o("{" MSG_IN ",'temperature':1.5}", &o, SY_ERR_INVALID_REQUEST, "temperature");
    req_err("{" MSG_IN ",'temperature':3}", "temperature");
    req_err("{" MSG_IN ",'top_p':'x'}", "top_p");
}

static void request_max_tokens_and_defaults(void **state)
{
    sy_fmt_req_opts_t o = opts();
    o.default_max_tokens = 2048;
    req_ok_o("{" MSG_IN "}", &o,
             "{'model':'claude-sonnet-4-5','max_tokens':2048,"
             "'messages':[{'role':'user','content':'Weather in Paris?'}]}",
             "");
    req_ok_o("{" MSG_IN ",'max_tokens':100}", &o, "{" MSG_OUT ",'max_tokens':100}", "");
    req_ok_o("{" MSG_IN ",'max_tokens':100,'max_completion_tokens':200}", &o,
             "{" MSG_OUT ",'max_tokens':200}", "");
    sy_conf_kv_t defs[] = {{"max_tokens", "1024"}, {"temperature", "0.5"}, {"seed", "1"}};
    o.defaults = defs;
    o.n_defaults = 3;
    req_ok_o("{" MSG_IN "}", &o, "{" MSG_OUT ",'max_tokens':1024,'temperature':0.5}", "seed");
    req_ok_o("{" MSG_IN ",'temperature':0.1,'max_completion_tokens':10}", &o,
             "{" MSG_OUT ",'max_tokens':10,'temperature':0.1}", "seed");
    req_ok_o("{" MSG_IN ",'temperature':null}", &o,
             "{" MSG_OUT ",'max_tokens':1024,'temperature':0.5}", "seed");
    req_err("{" MSG_IN ",'max_tokens':0}", "max_tokens");
    req_err("{" MSG_IN ",'max_completion_tokens':'x'}", "max_completion_tokens");
}

static void request_scalars_and_stream(void **state)
{
    sy_fmt_req_t r;
    sy_fmt_req_opts_t o = opts();
    const char *in = q("{" MSG_IN ",'stop':'END','user':'u-42','stream':true,"
                       "'stream_options':{'include_usage':true}}");
    assert_int_equal(sy_anthropic_fmt_request(in, strlen(in), &o, &r), SY_OK);
    assert_json(r.body, r.len,
                q("{" MSG_OUT ",'stop_sequences':['END'],'metadata':{'user_id':'u-42'},"
                  "'stream':true}"));
    assert_true(r.stream);
    assert_true(r.include_usage);
    free(r.body);
    in = q("{" MSG_IN ",'stream':true}");
    assert_int_equal(sy_anthropic_fmt_request(in, strlen(in), &o, &r), SY_OK);
    assert_true(r.stream);
    assert_false(r.include_usage);
    free(r.body);
    req_ok("{" MSG_IN ",'stop':['a','b'],'safety_identifier':'h1','stream':false}",
           "{" MSG_OUT ",'stop_sequences':['a','b'],'metadata':{'user_id':'h1'}}");
    req_ok("{" MSG_IN ",'stop':[],'user':null}", "{" MSG_OUT "}");
    req_err("{" MSG_IN ",'stop':[1]}", "stop");
    req_err("{" MSG_IN ",'stream':'yes'}", "stream");
    req_err("{" MSG_IN ",'user':5}", "user");
}

static void request_validation(void **state)
{
    sy_fmt_req_opts_t o = opts();
    req_err_o("{'messages':", &o, SY_ERR_INVALID_JSON, "");
    req_err("[1,2]", "");
    req_err("{'model':'m'}", "messages");
    req_err("{'messages':[]}", "messages");
    req_err("{'messages':{}}", "messages");
    req_err("{'messages':['hi']}", "messages[0]");
    req_err("{'messages':[{'content':'hi'}]}", "messages[0].role");
    req_err("{'messages':[{'role':'user','content':'a'},{'role':'function','content':'x',"
            "'name':'f'}]}",
            "messages[1].role");
    req_err("{'messages':[{'role':'user'}]}", "messages[0].content");
    req_err("{'messages':[{'role':'user','content':[{'type':'text'}]}]}",
            "messages[0].content[0].text");
}

/* ------------------------------------------------------------------ responses */

static const sy_fmt_resp_opts_t RESP = {"chatcmpl-fallback", 1700000000, "claude-fallback", false};

static void resp_ok(const char *in, const char *expected, sy_fmt_usage_t *usage)
{
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    in = q(in);
    assert_int_equal(sy_anthropic_fmt_response(in, strlen(in), &RESP, &out, usage), SY_OK);
    assert_json(out.base, out.len, q(expected));
    sy_buf_dispose(&out);
}

#define RESP_HEAD "'id':'msg_01','object':'chat.completion','created':1700000000,"

static void response_text(void **state)
{
    sy_fmt_usage_t u;
    resp_ok("{'id':'msg_01','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
            "'content':[{'type':'text','text':'Hello'},{'type':'text','text':' world'}],"
            "'stop_reason':'end_turn','stop_sequence':null,"
            "'usage':{'input_tokens':12,'output_tokens':6}}",
            "{" RESP_HEAD "'model':'claude-sonnet-4-5','choices':[{'index':0,'message':"
            "{'role':'assistant','content':'Hello world','refusal':null},'logprobs':null,"
            "'finish_reason':'stop'}],'usage':{'prompt_tokens':12,'completion_tokens':6,"
            "'total_tokens':18,'prompt_tokens_details':{'cached_tokens':0,"
            "'cache_write_tokens':0}}}",
            &u);
    assert_int_equal(u.prompt_tokens, 12);
    assert_int_equal(u.completion_tokens, 6);
    assert_int_equal(u.cached_tokens, 0);
    assert_int_equal(u.reasoning_tokens, -1);
    /* no id/model/usage upstream: the options fill in */
    resp_ok("{'type':'message','content':[],'stop_reason':'end_turn'}",
            "{'id':'chatcmpl-fallback','object':'chat.completion','created':1700000000,"
            "'model':'claude-fallback','choices':[{'index':0,'message':{'role':'assistant',"
            "'content':'','refusal':null},'logprobs':null,'finish_reason':'stop'}]}",
            &u);
    assert_int_equal(u.prompt_tokens, -1);
}

static void response_tool_calls(void **state)
{
    resp_ok("{'id':'msg_01','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
            "'content':[{'type':'text','text':'Checking.'},{'type':'tool_use','id':'toolu_01A',"
            "'name':'get_weather','input':{'city':'Paris','days':[1,2]}},{'type':'tool_use',"
            "'id':'toolu_01B','name':'now','input':{}}],'stop_reason':'tool_use',"
            "'usage':{'input_tokens':100,'output_tokens':40}}",
            "{" RESP_HEAD "'model':'claude-sonnet-4-5','choices':[{'index':0,'message':"
            "{'role':'assistant','content':'Checking.','refusal':null,'tool_calls':["
            "{'id':'toolu_01A','type':'function','function':{'name':'get_weather',"
            "'arguments':'{\\'city\\':\\'Paris\\',\\'days\\':[1,2]}'}},"
            "{'id':'toolu_01B','type':'function','function':{'name':'now','arguments':'{}'}}]},"
            "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':100,"
            "'completion_tokens':40,'total_tokens':140,'prompt_tokens_details':"
            "{'cached_tokens':0,'cache_write_tokens':0}}}",
            NULL);
    resp_ok("{'id':'msg_01','type':'message','model':'m','content':[{'type':'tool_use',"
            "'id':'toolu_01A','name':'now','input':{}}],'stop_reason':'tool_use'}",
            "{" RESP_HEAD "'model':'m','choices':[{'index':0,'message':{'role':'assistant',"
            "'content':null,'refusal':null,'tool_calls':[{'id':'toolu_01A','type':'function',"
            "'function':{'name':'now','arguments':'{}'}}]},'logprobs':null,"
            "'finish_reason':'tool_calls'}]}",
            NULL);
}

static void response_finish_reasons(void **state)
{
    static const char *const map[][2] = {
        {"end_turn", "stop"},          {"stop_sequence", "stop"},
        {"max_tokens", "length"},      {"tool_use", "stop"} /* no real tool call made */,
        {"refusal", "content_filter"}, {"pause_turn", "stop"},
        {"something_new", "stop"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char in[256], want[512];
        snprintf(in, sizeof in,
                 "{'id':'msg_01','type':'message','model':'m','content':[{'type':'text',"
                 "'text':'x'}],'stop_reason':'%s'}",
                 map[i][0]);
        snprintf(want, sizeof want,
                 "{" RESP_HEAD "'model':'m','choices':[{'index':0,'message':{'role':'assistant',"
                 "'content':'x','refusal':null},'logprobs':null,'finish_reason':'%s'}]}",
                 map[i][1]);
        resp_ok(in, want, NULL);
    }
}

static void response_usage_with_cache(void **state)
{
    sy_fmt_usage_t u;
    resp_ok("{'id':'msg_01','type':'message','model':'m','content':[{'type':'text','text':'x'}],"
            "'stop_reason':'end_turn','usage':{'input_tokens':50,'cache_creation_input_tokens':"
            "1000,'cache_read_input_tokens':2000,'output_tokens':30}}",
            "{" RESP_HEAD "'model':'m','choices':[{'index':0,'message':{'role':'assistant',"
            "'content':'x','refusal':null},'logprobs':null,'finish_reason':'stop'}],"
            "'usage':{'prompt_tokens':3050,'completion_tokens':30,'total_tokens':3080,"
            "'prompt_tokens_details':{'cached_tokens':2000,'cache_write_tokens':1000}}}",
            &u);
    assert_int_equal(u.prompt_tokens, 3050);
    assert_int_equal(u.completion_tokens, 30);
    assert_int_equal(u.cached_tokens, 2000);
    assert_int_equal(u.cache_write_tokens, 1000);
    assert_int_equal(u.reasoning_tokens, -1);
}

static void response_format_tool_becomes_content(void **state)
{
    resp_ok("{'id':'msg_01','type':'message','model':'m','content':[{'type':'tool_use',"
            "'id':'toolu_01','name':'sy_response_format__weather','input':{'t':21.5,"
            "'sky':'clear'}}],'stop_reason':'tool_use'}",
            "{" RESP_HEAD "'model':'m','choices':[{'index':0,'message':{'role':'assistant',"
            "'content':'{\\'t\\':21.5,\\'sky\\':\\'clear\\'}','refusal':null},'logprobs':null,"
            "'finish_reason':'stop'}]}",
            NULL);
}

static void response_thinking(void **state)
{
    resp_ok("{'id':'msg_01','type':'message','model':'m','content':[{'type':'thinking',"
            "'thinking':'Let me think.','signature':'EqQB'},{'type':'redacted_thinking',"
            "'data':'xx'},{'type':'text','text':'42'}],'stop_reason':'end_turn'}",
            "{" RESP_HEAD "'model':'m','choices':[{'index':0,'message':{'role':'assistant',"
            "'content':'42','reasoning_content':'Let me think.','refusal':null},"
            "'logprobs':null,'finish_reason':'stop'}]}",
            NULL);
}

static void response_broken(void **state)
{
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    const char *bad[] = {"not json", "[]", "{\"type\":\"message\"}",
                         "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"},"
                         "\"content\":[]}"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sy_anthropic_fmt_response(bad[i], strlen(bad[i]), &RESP, &out, NULL),
                         SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(out.len, 0);
    /* a capped output buffer: error, nothing half-written */
    sy_buf_t small;
    sy_buf_init(&small, 32);
    const char *ok = "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}";
    assert_int_equal(sy_anthropic_fmt_response(ok, strlen(ok), &RESP, &small, NULL),
                     SY_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    sy_buf_dispose(&small);
    sy_buf_dispose(&out);
}

/* ------------------------------------------------------------------ errors */

static void error_expect(int status, const char *body, const char *expected)
{
    sy_buf_t out;
    sy_buf_init(&out, 1 << 16);
    sy_anthropic_fmt_error(status, body, strlen(body), &out);
    assert_json(out.base, out.len, q(expected));
    sy_buf_dispose(&out);
}

static void error_mapping(void **state)
{
    static const char *const map[][3] = {
        {"400", "invalid_request_error", "invalid_request_error"},
        {"401", "authentication_error", "authentication_error"},
        {"402", "billing_error", "insufficient_quota"},
        {"403", "permission_error", "permission_error"},
        {"404", "not_found_error", "invalid_request_error"},
        {"413", "request_too_large", "invalid_request_error"},
        {"429", "rate_limit_error", "rate_limit_error"},
        {"500", "api_error", "server_error"},
        {"504", "timeout_error", "timeout_error"},
        {"529", "overloaded_error", "server_error"},
        {"418", "teapot_error", "invalid_request_error"},
        {"503", "teapot_error", "server_error"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char body[256], want[256];
        snprintf(body, sizeof body,
                 "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"Boom\"}}",
                 map[i][1]);
        snprintf(want, sizeof want,
                 "{'error':{'message':'Boom','type':'%s','param':null,'code':'%s'}}", map[i][2],
                 map[i][1]);
        error_expect(atoi(map[i][0]), body, want);
    }
    error_expect(400,
                 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"prompt is too long: 210000 tokens > 200000 maximum\"},"
                 "\"request_id\":\"req_01\"}",
                 "{'error':{'message':'prompt is too long: 210000 tokens > 200000 maximum',"
                 "'type':'invalid_request_error','param':null,'code':'context_length_exceeded'}}");
    error_expect(400,
                 "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
                 "\"Input exceeds the Context Window\"}}",
                 "{'error':{'message':'Input exceeds the Context Window',"
                 "'type':'invalid_request_error','param':null,'code':'context_length_exceeded'}}");
}

static void error_non_json_body(void **state)
{
    error_expect(502, "<html>\r\n<body>Bad Gateway</body>\n</html>\n",
                 "{'error':{'message':'upstream returned HTTP 502: <html> <body>Bad Gateway"
                 "</body> </html>','type':'upstream_error','param':null,'code':null}}");
    error_expect(503, "",
                 "{'error':{'message':'upstream returned HTTP 503',"
                 "'type':'upstream_error','param':null,'code':null}}");
    error_expect(500, "{\"message\":\"nope\"}",
                 "{'error':{'message':'upstream returned HTTP 500: {\\'message\\':\\'nope\\'}',"
                 "'type':'upstream_error','param':null,'code':null}}");
    char long_body[400];
    memset(long_body, 'x', sizeof long_body - 1);
    long_body[sizeof long_body - 1] = '\0';
    long_body[0] = '\x01';
    long_body[1] = (char)0xc3;
    sy_buf_t out;
    sy_buf_init(&out, 1 << 16);
    sy_anthropic_fmt_error(500, long_body, strlen(long_body), &out);
    json_t *j = json_loadb(out.base, out.len, 0, NULL);
    const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_non_null(m);
    assert_int_equal(strlen(m), strlen("upstream returned HTTP 500: ") + 200);
    assert_memory_equal(m + strlen("upstream returned HTTP 500: "), "??xxx", 5);
    json_decref(j);
    sy_buf_dispose(&out);
}

/* ------------------------------------------------------------------ streams */

typedef struct ev {
    const char *type;
    const char *data;
} ev_t;

#define PFX                                                                                        \
    "data: "                                                                                       \
    "{'id':'msg_01','object':'chat.completion.chunk','created':1700000000,'model':'claude-sonnet-" \
    "4-5','choices':[{'index':0,'delta':"
#define MID ",'logprobs':null,'finish_reason':"
#define END "}]}\n\n"
#define ENDU "}]," Q_USAGE_NULL "}\n\n"
#define Q_USAGE_NULL "'usage':null"

/* Feeds the events; the concatenated output must be exactly q(expected). */
static sy_anthropic_stream_t *run_stream(const ev_t *evs, size_t n, bool include_usage,
                                         const char *expected, sy_err_t last_err)
{
    sy_fmt_resp_opts_t o = RESP;
    o.include_usage = include_usage;
    sy_anthropic_stream_t *s = sy_anthropic_stream_new(&o);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 20);
    for (size_t i = 0; i < n; i++) {
        const char *d = q(evs[i].data);
        sy_err_t err = sy_anthropic_stream_event(s, sy_str_c(evs[i].type), sy_str_c(d), &out);
        assert_int_equal(err, i == n - 1 ? last_err : SY_OK);
    }
    const char *want = q(expected);
    if (out.len != strlen(want) || memcmp(out.base, want, out.len))
        fail_msg("stream differs\n actual:\n%.*s\n expected:\n%s", (int)out.len, out.base, want);
    sy_buf_dispose(&out);
    return s;
}

#define MSG_START_DATA                                                                             \
    "{'type':'message_start','message':{'id':'msg_01','type':'message','role':'assistant',"        \
    "'content':[],'model':'claude-sonnet-4-5','stop_reason':null,'stop_sequence':null,"            \
    "'usage':{'input_tokens':25,'cache_creation_input_tokens':100,"                                \
    "'cache_read_input_tokens':200,'output_tokens':1}}}"
#define MSG_START                                                                                  \
    {                                                                                              \
        "message_start", MSG_START_DATA                                                            \
    }

static const ev_t text_events[] = {
    MSG_START,
    {"content_block_start",
     "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}"},
    {"ping", "{'type': 'ping'}"},
    {"content_block_delta",
     "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Hello'}}"},
    {"some_future_event", "not even json"},
    {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                            "{'type':'text_delta','text':' \\'world\\'\\n'}}"},
    {"content_block_stop", "{'type':'content_block_stop','index':0}"},
    {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'end_turn',"
                      "'stop_sequence':null},'usage':{'output_tokens':15}}"},
    {"message_stop", "{'type':'message_stop'}"},
};

static void stream_text_with_usage(void **state)
{
    sy_anthropic_stream_t *s =
        run_stream(text_events, sizeof text_events / sizeof text_events[0], true,
                   PFX "{'role':'assistant','content':''}" MID "null" ENDU PFX
                       "{'content':'Hello'}" MID "null" ENDU PFX "{'content':' \\'world\\'\\n'}" MID
                       "null" ENDU PFX "{}" MID "'stop'" ENDU
                       "data: {'id':'msg_01','object':'chat.completion.chunk','created':1700000000,"
                       "'model':'claude-sonnet-4-5','choices':[],'usage':{'prompt_tokens':325,"
                       "'completion_tokens':15,'total_tokens':340,'prompt_tokens_details':"
                       "{'cached_tokens':200,'cache_write_tokens':100}}}\n\n"
                       "data: [DONE]\n\n",
                   SY_OK);
    assert_true(sy_anthropic_stream_done(s));
    const sy_fmt_usage_t *u = sy_anthropic_stream_usage(s);
    assert_int_equal(u->prompt_tokens, 325);
    assert_int_equal(u->completion_tokens, 15);
    assert_int_equal(u->cached_tokens, 200);
    assert_int_equal(u->cache_write_tokens, 100);
    /* after the end, events are ignored */
    sy_buf_t out;
    sy_buf_init(&out, 1024);
    assert_int_equal(sy_anthropic_stream_event(s, SY_STR_LIT("message_stop"),
                                               SY_STR_LIT("{\"type\":\"message_stop\"}"), &out),
                     SY_OK);
    assert_int_equal(out.len, 0);
    sy_buf_dispose(&out);
    sy_anthropic_stream_free(s);
}

static void stream_text_without_usage(void **state)
{
    sy_anthropic_stream_t *s =
        run_stream(text_events, sizeof text_events / sizeof text_events[0], false,
                   PFX "{'role':'assistant','content':''}" MID "null" END PFX
                       "{'content':'Hello'}" MID "null" END PFX "{'content':' \\'world\\'\\n'}" MID
                       "null" END PFX "{}" MID "'stop'" END "data: [DONE]\n\n",
                   SY_OK);
    assert_true(sy_anthropic_stream_done(s));
    assert_int_equal(sy_anthropic_stream_usage(s)->completion_tokens, 15);
    sy_anthropic_stream_free(s);
}

static void stream_unnamed_events_and_usage_updates(void **state)
{
    /* no `event:` lines: the SSE type is "message" and the data names the event; message_delta
     * may restate input counts */
    static const ev_t evs[] = {
        {"message", "{'type':'message_start','message':{'id':'msg_01','model':"
                    "'claude-sonnet-4-5','content':[],'usage':{'input_tokens':5,"
                    "'output_tokens':1}}}"},
        {"message", "{'type':'ping'}"},
        {"message", "{'type':'message_delta','delta':{'stop_reason':'max_tokens'},"
                    "'usage':{'input_tokens':7,'output_tokens':3}}"},
        {"message", "{'type':'message_stop'}"},
    };
    sy_anthropic_stream_t *s = run_stream(
        evs, 4, true,
        PFX "{'role':'assistant','content':''}" MID "null" ENDU PFX "{}" MID "'length'" ENDU
            "data: {'id':'msg_01','object':'chat.completion.chunk','created':1700000000,"
            "'model':'claude-sonnet-4-5','choices':[],'usage':{'prompt_tokens':7,"
            "'completion_tokens':3,'total_tokens':10,'prompt_tokens_details':"
            "{'cached_tokens':0,'cache_write_tokens':0}}}\n\n"
            "data: [DONE]\n\n",
        SY_OK);
    sy_anthropic_stream_free(s);
}

static void stream_parallel_tool_calls(void **state)
{
    static const ev_t evs[] = {
        MSG_START,
        {"content_block_start",
         "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'text_delta','text':'Checking.'}}"},
        {"content_block_stop", "{'type':'content_block_stop','index':0}"},
        {"content_block_start", "{'type':'content_block_start','index':1,'content_block':"
                                "{'type':'tool_use','id':'toolu_01A','name':'get_weather',"
                                "'input':{}}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                                "{'type':'input_json_delta','partial_json':''}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                                "{'type':'input_json_delta','partial_json':'{\\'city\\': '}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                                "{'type':'input_json_delta','partial_json':'\\'Paris\\'}'}}"},
        {"content_block_stop", "{'type':'content_block_stop','index':1}"},
        {"content_block_start", "{'type':'content_block_start','index':2,'content_block':"
                                "{'type':'tool_use','id':'toolu_01B','name':'get_weather',"
                                "'input':{}}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':2,'delta':"
                                "{'type':'input_json_delta','partial_json':"
                                "'{\\'city\\': \\'Rome\\'}'}}"},
        {"content_block_stop", "{'type':'content_block_stop','index':2}"},
        {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use',"
                          "'stop_sequence':null},'usage':{'output_tokens':89}}"},
        {"message_stop", "{'type':'message_stop'}"},
    };
    sy_anthropic_stream_t *s = run_stream(
        evs, sizeof evs / sizeof evs[0], false,
        PFX
        "{'role':'assistant','content':''}" MID "null" END PFX "{'content':'Checking.'}" MID
        "null" END PFX "{'tool_calls':[{'index':0,'id':'toolu_01A','type':'function','function':"
        "{'name':'get_weather','arguments':''}}]}" MID "null" END PFX
        "{'tool_calls':[{'index':0,'function':{'arguments':'{\\'city\\': '}}]}" MID "null" END PFX
        "{'tool_calls':[{'index':0,'function':{'arguments':'\\'Paris\\'}'}}]}" MID "null" END PFX
        "{'tool_calls':[{'index':1,'id':'toolu_01B','type':'function','function':"
        "{'name':'get_weather','arguments':''}}]}" MID "null" END PFX
        "{'tool_calls':[{'index':1,'function':{'arguments':'{\\'city\\': \\'Rome\\'}'}}]}" MID
        "null" END PFX "{}" MID "'tool_calls'" END "data: [DONE]\n\n",
        SY_OK);
    sy_anthropic_stream_free(s);
}

static void stream_response_format_and_thinking(void **state)
{
    static const ev_t evs[] = {
        MSG_START,
        {"content_block_start", "{'type':'content_block_start','index':0,'content_block':"
                                "{'type':'thinking','thinking':''}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'thinking_delta','thinking':'Hmm.'}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':0,'delta':"
                                "{'type':'signature_delta','signature':'EqQBCgIYAhIM'}}"},
        {"content_block_stop", "{'type':'content_block_stop','index':0}"},
        {"content_block_start", "{'type':'content_block_start','index':1,'content_block':"
                                "{'type':'tool_use','id':'toolu_01','name':"
                                "'sy_response_format__weather','input':{}}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                                "{'type':'input_json_delta','partial_json':'{\\'t\\':'}}"},
        {"content_block_delta", "{'type':'content_block_delta','index':1,'delta':"
                                "{'type':'input_json_delta','partial_json':'21}'}}"},
        {"content_block_stop", "{'type':'content_block_stop','index':1}"},
        {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'tool_use'},"
                          "'usage':{'output_tokens':20}}"},
        {"message_stop", "{'type':'message_stop'}"},
    };
    sy_anthropic_stream_t *s =
        run_stream(evs, sizeof evs / sizeof evs[0], false,
                   PFX "{'role':'assistant','content':''}" MID "null" END PFX
                       "{'reasoning_content':'Hmm.'}" MID "null" END PFX
                       "{'content':'{\\'t\\':'}" MID "null" END PFX "{'content':'21}'}" MID
                       "null" END PFX "{}" MID "'stop'" END "data: [DONE]\n\n",
                   SY_OK);
    sy_anthropic_stream_free(s);
}

static void stream_refusal(void **state)
{
    static const ev_t evs[] = {
        MSG_START,
        {"message_delta", "{'type':'message_delta','delta':{'stop_reason':'refusal'},"
                          "'usage':{'output_tokens':2}}"},
        {"message_stop", "{'type':'message_stop'}"},
    };
    sy_anthropic_stream_t *s = run_stream(evs, 3, false,
                                          PFX "{'role':'assistant','content':''}" MID "null" END PFX
                                              "{}" MID "'content_filter'" END "data: [DONE]\n\n",
                                          SY_OK);
    sy_anthropic_stream_free(s);
}

static void stream_error_event(void **state)
{
    static const ev_t evs[] = {
        MSG_START,
        {"content_block_start",
         "{'type':'content_block_start','index':0,'content_block':{'type':'text','text':''}}"},
        {"content_block_delta",
         "{'type':'content_block_delta','index':0,'delta':{'type':'text_delta','text':'Hel'}}"},
        {"error", "{'type':'error','error':{'type':'overloaded_error','message':'Overloaded'}}"},
    };
    sy_anthropic_stream_t *s = run_stream(
        evs, 4, true,
        PFX "{'role':'assistant','content':''}" MID "null" ENDU PFX "{'content':'Hel'}" MID
            "null" ENDU "data: {'error':{'message':'Overloaded','type':'server_error','param':null,"
            "'code':'overloaded_error'}}\n\n",
        SY_ERR_UPSTREAM_STATUS);
    assert_true(sy_anthropic_stream_done(s));
    sy_anthropic_stream_free(s);
}

static void stream_malformed_data(void **state)
{
    sy_anthropic_stream_t *s = sy_anthropic_stream_new(&RESP);
    sy_buf_t out;
    sy_buf_init(&out, 1 << 16);
    assert_int_equal(sy_anthropic_stream_event(s, SY_STR_LIT("content_block_delta"),
                                               SY_STR_LIT("{\"type\":"), &out),
                     SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(
        sy_anthropic_stream_event(s, SY_STR_LIT("message_start"), SY_STR_LIT("[1]"), &out),
        SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(sy_anthropic_stream_event(s, SY_STR_LIT("message_start"),
                                               SY_STR_LIT("{\"type\":\"message_start\"}"), &out),
                     SY_ERR_UPSTREAM_BROKEN);
    assert_int_equal(out.len, 0);
    assert_false(sy_anthropic_stream_done(s));
    /* ping and unknown events never need valid data */
    assert_int_equal(sy_anthropic_stream_event(s, SY_STR_LIT("ping"), SY_STR_LIT("?"), &out),
                     SY_OK);
    assert_int_equal(out.len, 0);
    /* a full buffer fails cleanly: no partial frame */
    sy_buf_t small;
    sy_buf_init(&small, 40);
    const char *start = q(MSG_START_DATA);
    assert_int_equal(
        sy_anthropic_stream_event(s, SY_STR_LIT("message_start"), sy_str_c(start), &small),
        SY_ERR_TOO_LARGE);
    assert_int_equal(small.len, 0);
    sy_buf_dispose(&small);
    sy_buf_dispose(&out);
    sy_anthropic_stream_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_plain_text),
        cmocka_unit_test(request_system_and_developer_joined),
        cmocka_unit_test(request_merges_consecutive_roles),
        cmocka_unit_test(request_images),
        cmocka_unit_test(request_tools_and_tool_choice),
        cmocka_unit_test(request_tool_calls_and_results),
        cmocka_unit_test(request_response_format),
        cmocka_unit_test(request_unsupported_dropped_or_rejected),
        cmocka_unit_test(request_temperature_clamped),
        cmocka_unit_test(request_max_tokens_and_defaults),
        cmocka_unit_test(request_scalars_and_stream),
        cmocka_unit_test(request_validation),
        cmocka_unit_test(response_text),
        cmocka_unit_test(response_tool_calls),
        cmocka_unit_test(response_finish_reasons),
        cmocka_unit_test(response_usage_with_cache),
        cmocka_unit_test(response_format_tool_becomes_content),
        cmocka_unit_test(response_thinking),
        cmocka_unit_test(response_broken),
        cmocka_unit_test(error_mapping),
        cmocka_unit_test(error_non_json_body),
        cmocka_unit_test(stream_text_with_usage),
        cmocka_unit_test(stream_text_without_usage),
        cmocka_unit_test(stream_unnamed_events_and_usage_updates),
        cmocka_unit_test(stream_parallel_tool_calls),
        cmocka_unit_test(stream_response_format_and_thinking),
        cmocka_unit_test(stream_refusal),
        cmocka_unit_test(stream_error_event),
        cmocka_unit_test(stream_malformed_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
