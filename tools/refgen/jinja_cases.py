#!/usr/bin/env python3
"""Renders the Jinja case corpus with jinja2, configured as transformers' apply_chat_template
configures it, and writes tests/fixtures/jinja/cases.json for tests/test_jinja.c.

The environment mirrors transformers (utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[loopcontrols, the {% generation %} tag]), globals raise_exception and
strftime_now, and transformers' own tojson filter (json.dumps with ensure_ascii=False).
strftime_now reads a fixed clock (FIXED_NOW, in UTC) so the C test can reproduce it.

Each case is a template plus JSON variables; the output is jinja2's rendering, or, when
jinja2 raises (at compile or render time), the exception type and message. The C test
requires byte-identical output, or an error where jinja2 raised.

Usage: /usr/bin/python3 tools/refgen/jinja_cases.py   (Debian's python3-jinja2, 3.1.x)
"""
import datetime
import json
import os
import sys
import time

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = 1718454645  # 2024-06-15 12:30:45 UTC, a Saturday

os.environ["TZ"] = "UTC"
time.tzset()


class GenerationTag(jinja2.ext.Extension):
    """transformers' AssistantTracker tag, reduced to rendering its body in place."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(FIXED_NOW).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


MSGS = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Hi <b>there</b> & \"you\""},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
]

# (name, template, variables). Grouped by construct; errors are cases too.
CASES = [
    # ---------------------------------------------------------------- text and whitespace
    ("plain", "hello world", {}),
    ("empty", "", {}),
    ("trailing_newline_dropped", "a\n", {}),
    ("two_trailing_newlines", "a\n\n", {}),
    ("crlf_normalized", "a\r\nb\rc\n", {}),
    ("crlf_in_string", "{{ 'x\r\ny' }}", {}),
    ("var_basic", "Hello {{ name }}!", {"name": "Ann"}),
    ("var_strip_both", "a  {{- x -}}  b", {"x": 1}),
    ("var_strip_newlines", "a\n\n  {{- x }}\n\n b", {"x": 1}),
    ("var_plus_no_effect", "  {{+ x }}", {"x": 1}),
    ("block_trim", "{% if true %}\nyes\n{% endif %}\nend", {}),
    ("block_lstrip", "  {% if true %}\n  yes\n  {% endif %}\nend", {}),
    ("block_lstrip_tabs", "\t \t{% if true %}x{% endif %}", {}),
    ("block_lstrip_not_after_text", "a {% if true %}x{% endif %} b", {}),
    ("block_plus_left", "  {%+ if true %}x{% endif %}", {}),
    ("block_plus_right", "{% if true +%}\nx{% endif %}", {}),
    ("block_minus_right", "{% if true -%}   \n\n  x{% endif %}", {}),
    ("block_minus_left", "x   \n\n {%- if true %}y{% endif %}", {}),
    ("block_trim_only_one_newline", "{% if true %}\n\nx{% endif %}", {}),
    ("block_lstrip_start_of_template", "   {% if true %}x{% endif %}", {}),
    ("block_lstrip_after_trim", "{% if true %}\n    {% if true %}x{% endif %}\n{% endif %}", {}),
    ("variable_no_lstrip", "  {{ 'v' }}\n  x", {}),
    ("comment", "a{# comment #}b", {}),
    ("comment_lstrip_trim", "a\n  {# comment #}\nb", {}),
    ("comment_minus", "a  {#- c -#}  b", {}),
    ("comment_multiline", "a{# line1\nline2 #}b", {}),
    ("raw_block", "{% raw %}{{ not parsed }}{% endraw %}", {}),
    ("raw_block_minus", "a  {%- raw -%}  {{ x }}  {%- endraw -%}  b", {}),
    ("raw_block_trim", "{% raw %}\nx\n{% endraw %}\ny", {}),
    ("whitespace_nbsp_lstrip", "\u00a0{% if true %}x{% endif %}", {}),
    ("minus_strips_unicode_space", "a\u3000{{- 'b' }}", {}),
    ("data_braces", "a { b } c {", {}),
    ("tuple_print", "{{ 1, 2 }}", {}),
    ("print_stmt", "{% print 'a', 'b' %}", {}),
    # ---------------------------------------------------------------- literals and printing
    ("print_types", "{{ none }}|{{ true }}|{{ False }}|{{ 42 }}|{{ -7 }}|{{ 1.5 }}|{{ 2.0 }}", {}),
    ("print_floats", "{{ 1e20 }}|{{ 1e16 }}|{{ 1e15 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 1/3 }}|{{ 0.1+0.2 }}", {}),
    ("print_list", "{{ [1, 'a', none, true, 1.5, [2]] }}", {}),
    ("print_dict", "{{ {'a': 1, 'b': 'x', 3: none} }}", {}),
    ("print_tuple", "{{ (1,) }}|{{ () }}|{{ (1, 'b') }}", {}),
    ("repr_quotes", "{{ ['it\\'s', \"say \\\"hi\\\"\", 'both \\' \"', 'tab\\tnl\\n', '\\x01\\x7f'] }}", {}),
    ("repr_unicode", "{{ ['é', '\u00a0', '\u200b', '😀', '\u2028'] }}", {}),
    ("string_escapes", "{{ 'a\\tb\\\\c\\u00e9\\U0001F600\\x41\\101\\q' }}", {}),
    ("string_adjacent", "{{ 'a' 'b' \"c\" }}", {}),
    ("int_literals", "{{ 1_000 }}|{{ 0x1F }}|{{ 0o17 }}|{{ 0b101 }}|{{ 0 }}", {}),
    ("float_literals", "{{ 1.5e3 }}|{{ 2E-2 }}|{{ 1_0.5 }}", {}),
    ("print_undefined", "[{{ nothing }}]", {}),
    ("print_none_var", "{{ v }}", {"v": None}),
    ("print_json_float", "{{ v }}|{{ w }}", {"v": 3.0, "w": 1e-7}),
    ("print_nested_json", "{{ m }}", {"m": {"a": [1, {"b": None}], "c": "d'e"}}),
    # ---------------------------------------------------------------- operators
    ("arith", "{{ 7 + 3 }}|{{ 7 - 10 }}|{{ 7 * 3 }}|{{ 7 / 2 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 2 ** 10 }}", {}),
    ("arith_neg", "{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ -7.5 // 2 }}|{{ -7.5 % 2 }}|{{ 2 ** -1 }}", {}),
    ("arith_float", "{{ 1.5 + 1 }}|{{ 3 * 0.5 }}|{{ 6 / 3 }}|{{ 2.0 ** 3 }}", {}),
    ("pow_left_assoc", "{{ 2 ** 3 ** 2 }}", {}),
    ("unary", "{{ -(3) }}|{{ +4 }}|{{ -1.5 }}|{{ not true }}|{{ not 0 }}", {}),
    ("neg_filter", "{{ -1|abs }}|{{ -x|abs }}", {"x": 3}),
    ("precedence", "{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 2 * 3 ~ 4 }}|{{ (1 + 2) ~ (3 + 4) }}|{{ 2 + 3 * 4 ** 2 }}", {}),
    ("precedence_concat_binds_tighter", "{{ 1 + 2 ~ 3 + 4 }}", {}),
    ("concat", "{{ 'a' ~ 1 ~ none ~ true ~ [1] ~ undefined_x }}", {}),
    ("string_plus", "{{ 'a' + 'b' }}|{{ [1] + [2] }}|{{ 'ab' * 3 }}|{{ 3 * 'x' }}|{{ [0] * 2 }}", {}),
    ("string_percent", "{{ '%s-%d-%05.2f-%x-%r' % ('a', 3, 2.5, 255, 'q') }}", {}),
    ("string_percent_single", "{{ 'v=%s' % 5 }}|{{ '%(a)s+%(b)s' % {'a': 1, 'b': 2} }}|{{ '100%%' % () }}", {}),
    ("bool_arith", "{{ true + 1 }}|{{ true * 3 }}|{{ false - 1 }}", {}),
    ("compare", "{{ 1 < 2 }}|{{ 2 <= 2 }}|{{ 3 > 4 }}|{{ 'a' < 'b' }}|{{ 1 == 1.0 }}|{{ 1 != 2 }}", {}),
    ("compare_chain", "{{ 1 < 2 < 3 }}|{{ 1 < 3 < 2 }}|{{ 3 > 2 == 2 }}", {}),
    ("compare_lists", "{{ [1, 2] < [1, 3] }}|{{ [1, 2] == [1, 2] }}|{{ (1, 2) == [1, 2] }}|{{ [1] < [1, 0] }}", {}),
    ("compare_unicode", "{{ 'é' > 'z' }}|{{ 'Z' < 'a' }}", {}),
    ("eq_types", "{{ 1 == '1' }}|{{ none == none }}|{{ {'a': 1} == {'a': 1} }}|{{ true == 1 }}", {}),
    ("eq_undefined", "{{ x == y }}|{{ x == none }}|{{ x != 1 }}", {}),
    ("in_operator", "{{ 'b' in 'abc' }}|{{ 2 in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 3 not in [1] }}|{{ '' in 'a' }}", {}),
    ("in_undefined", "{{ 1 in nothing }}", {}),
    ("and_or_values", "{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ none or [] }}|{{ 1 and 0 }}", {}),
    ("ternary", "{{ 'y' if true else 'n' }}|{{ 'y' if 0 else 'n' }}|[{{ 'y' if false }}]", {}),
    ("ternary_nested", "{{ 'a' if x == 1 else 'b' if x == 2 else 'c' }}", {"x": 2}),
    ("not_precedence", "{{ not 1 == 2 }}|{{ not x is defined }}|{{ (not true) == false }}", {}),
    ("div_zero", "{{ 1 / 0 }}", {}),
    ("floordiv_zero", "{{ 1 // 0 }}", {}),
    ("add_str_int", "{{ 'a' + 1 }}", {}),
    ("compare_str_int", "{{ 'a' < 1 }}", {}),
    ("in_int", "{{ 1 in 2 }}", {}),
    ("add_undefined", "{{ x + 1 }}", {}),
    ("compare_undefined", "{{ x < 1 }}", {}),
    # ---------------------------------------------------------------- variables, attributes, subscripts
    ("attr_dict", "{{ m.role }}:{{ m['content'] }}", {"m": {"role": "user", "content": "hi"}}),
    ("attr_missing_prints_empty", "[{{ m.nope }}]", {"m": {}}),
    ("attr_missing_chained", "{{ m.nope.deeper }}", {"m": {}}),
    ("undefined_attr", "{{ nothing.attr }}", {}),
    ("undefined_item", "{{ nothing['x'] }}", {}),
    ("undefined_call", "{{ nothing() }}", {}),
    ("none_attr", "[{{ v.x }}]", {"v": None}),
    ("dict_method_vs_key", "{{ d.items is defined }}|{{ d['items'] }}|{{ d.keys()|list }}", {"d": {"items": 5, "a": 1}}),
    ("dict_key_fallback_method", "{{ d['values']()|list }}", {"d": {"a": 1}}),
    ("list_index", "{{ xs[0] }}|{{ xs[-1] }}|{{ xs.1 }}|[{{ xs[10] }}]", {"xs": ["a", "b", "c"]}),
    ("string_index", "{{ s[0] }}{{ s[-1] }}|{{ s[1:3] }}|{{ s[::-1] }}|{{ s[::2] }}", {"s": "héllo"}),
    ("slices", "{{ xs[1:] }}|{{ xs[:-1] }}|{{ xs[::-1] }}|{{ xs[-2:] }}|{{ xs[5:] }}|{{ xs[1:10:2] }}", {"xs": [0, 1, 2, 3, 4]}),
    ("slice_step_neg", "{{ xs[3:0:-1] }}|{{ xs[-1::-2] }}", {"xs": [0, 1, 2, 3, 4]}),
    ("slice_zero_step", "{{ xs[::0] }}", {"xs": [1]}),
    ("messages_reverse", "{% for m in messages[::-1] %}{{ m.role }} {% endfor %}", {"messages": MSGS}),
    ("nested_access", "{{ messages[3].content[1].text }}|{{ messages[3]['content'][0]['type'] }}", {"messages": MSGS}),
    ("sandbox_private", "[{{ m.__class__ }}]", {"m": {}}),
    ("sandbox_append", "{{ xs.append(1) }}", {"xs": [1]}),
    ("sandbox_append_print", "[{{ xs.append }}]", {"xs": [1]}),
    ("sandbox_update", "{% set d = {} %}{{ d.update({'a': 1}) }}", {}),
    # ---------------------------------------------------------------- if / for
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", {}),
    ("if_undefined", "{% if nothing %}y{% else %}n{% endif %}", {}),
    ("if_empty_containers", "{% if [] %}a{% endif %}{% if {} %}b{% endif %}{% if '' %}c{% endif %}{% if 0.0 %}d{% endif %}{% if [0] %}e{% endif %}", {}),
    ("for_loop_vars", "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", {}),
    ("for_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }},{{ loop.nextitem }}]{% endfor %}", {}),
    ("for_depth", "{% for x in [1] %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}", {}),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %}", {}),
    ("for_changed", "{% for x in [1, 1, 2, 2, 1] %}{{ loop.changed(x) }} {% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for_else_not_taken", "{% for x in [1] %}x{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_filter_loop_length", "{% for x in range(10) if x > 6 %}{{ loop.index }}/{{ loop.length }} {% endfor %}", {}),
    ("for_filter_all_out_else", "{% for x in [1, 2] if x > 5 %}{{ x }}{% else %}none{% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 2, "a": 1}}),
    ("for_unpack_list", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}", {}),
    ("for_unpack_mismatch", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_string", "{% for ch in 'héy' %}[{{ ch }}]{% endfor %}", {}),
    ("for_undefined", "{% for x in nothing %}x{% else %}e{% endfor %}", {}),
    ("for_none", "{% for x in v %}x{% endfor %}", {"v": None}),
    ("for_int", "{% for x in 5 %}x{% endfor %}", {}),
    ("for_nested_loop_var", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }} {% endfor %}{% endfor %}", {}),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("break_outside_loop", "{% break %}", {}),
    ("for_scope_no_leak", "{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }}|{% endfor %}{{ x }}", {}),
    ("for_loop_var_not_after", "{% for i in [1] %}{% endfor %}[{{ i }}][{{ loop }}]", {}),
    ("for_reassign_loop_var", "{% for i in [1, 2] %}{{ i }}{% set i = 9 %}{{ i }}{% endfor %}", {}),
    ("for_tuple_iter", "{% for x in 1, 2 %}{{ x }}{% endfor %}", {}),
    ("for_range_forms", "{{ range(3)|list }}|{{ range(1, 4)|list }}|{{ range(10, 0, -3)|list }}|{{ range(0)|list }}", {}),
    ("range_print", "{{ range(3) }}|{{ range(1, 9, 2) }}|{{ range(5)[1:3] }}", {}),
    ("range_too_big", "{{ range(1000000)|length }}", {}),
    ("if_in_for_scope", "{% for i in [1] %}{% if true %}{% set y = 5 %}{% endif %}{{ y }}{% endfor %}[{{ y }}]", {}),
    ("top_level_if_set", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}", {}),
    # ---------------------------------------------------------------- set, namespace, with
    ("set_simple", "{% set a = 1 %}{% set b = a + 1 %}{{ a }}{{ b }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}-{{ b }}", {}),
    ("set_tuple_from_list", "{% set a, b = ['x', 'y'] %}{{ b }}{{ a }}", {}),
    ("set_block", "{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]", {}),
    ("set_block_filter", "{% set x | upper | trim %}  hello  {% endset %}[{{ x }}]", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("namespace_print", "{{ namespace(a=1, b='x') }}", {}),
    ("namespace_dict_arg", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}", {}),
    ("namespace_missing_attr", "[{{ namespace().x }}]", {}),
    ("namespace_set_non_ns", "{% set d = {} %}{% set d.x = 1 %}", {}),
    ("namespace_undefined_target", "{% set nope.x = 1 %}", {}),
    ("namespace_in_macro", "{% set ns = namespace(c=0) %}{% macro inc() %}{% set ns.c = ns.c + 1 %}{% endmacro %}{{ inc() }}{{ inc() }}{{ ns.c }}", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    ("dict_literal_trailing_comma", "{{ {'a': 1,} }}|{{ [1, 2,] }}", {}),
    ("dict_builtin", "{{ dict(a=1, b='x') }}|{{ dict([['k', 'v']]) }}", {}),
    # ---------------------------------------------------------------- macros and call
    ("macro_basic", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', '?') }} {{ greet(punct='.', name='Cy') }}", {}),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}][{{ b }}]{% endmacro %}{{ m(1) }}", {}),
    ("macro_too_many_args", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", {}),
    ("macro_unknown_kwarg", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=2) }}", {}),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", {}),
    ("macro_late_global", "{% macro m() %}{{ y }}{% endmacro %}{% set y = 5 %}{{ m() }}", {}),
    ("macro_result_concat", "{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(1) + m(2) }}|{{ (m(3) ~ 'z')|length }}", {}),
    ("macro_whitespace", "{% macro m() %}\n  line\n{% endmacro %}[{{ m() }}]", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("macro_default_refers_param", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}", {}),
    ("macro_print", "{% macro m() %}{% endmacro %}{{ m }}", {}),
    ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}", {}),
    ("call_block_args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x, loop.index) }}{% endfor %}{% endmacro %}{% call(item, i) each(['a', 'b']) %}{{ i }}:{{ item }} {% endcall %}", {}),
    ("caller_undefined", "{% macro m() %}[{{ caller is defined }}]{% endmacro %}{{ m() }}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}", {}),
    ("generation_tag", "a{% generation %}b{{ 1 }}{% endgeneration %}c", {}),
    # ---------------------------------------------------------------- tests
    ("tests_defined", "{{ x is defined }}|{{ y is defined }}|{{ y is undefined }}|{{ x is not none }}|{{ z is none }}", {"x": 1, "z": None}),
    ("tests_types", "{{ 'a' is string }}|{{ 1 is number }}|{{ true is number }}|{{ 1 is integer }}|{{ true is integer }}|{{ 1.0 is float }}|{{ {} is mapping }}|{{ [] is iterable }}|{{ 'a' is iterable }}|{{ 1 is iterable }}", {}),
    ("tests_sequence", "{{ 'a' is sequence }}|{{ [] is sequence }}|{{ {} is sequence }}|{{ 1 is sequence }}|{{ x is sequence }}|{{ x is iterable }}", {}),
    ("tests_bool", "{{ true is boolean }}|{{ 1 is boolean }}|{{ true is true }}|{{ 1 is true }}|{{ false is false }}|{{ 0 is false }}", {}),
    ("tests_numbers", "{{ 3 is odd }}|{{ 4 is even }}|{{ -3 is odd }}|{{ 9 is divisibleby 3 }}|{{ 9 is divisibleby(4) }}|{{ 2.0 is even }}", {}),
    ("tests_compare", "{{ 1 is eq 1 }}|{{ 1 is equalto 2 }}|{{ 1 is ne 2 }}|{{ 2 is gt 1 }}|{{ 2 is ge 2 }}|{{ 1 is lt 2 }}|{{ 1 is le 0 }}|{{ 3 is greaterthan 2 }}|{{ 3 is lessthan 2 }}", {}),
    ("tests_in", "{{ 2 is in [1, 2] }}|{{ 'x' is in 'abc' }}", {}),
    ("tests_case", "{{ 'abc' is lower }}|{{ 'ABC' is upper }}|{{ 'Abc' is lower }}|{{ '123' is lower }}", {}),
    ("tests_callable", "{{ range is callable }}|{{ 1 is callable }}|{{ 'a'.upper is callable }}|{{ nothing is callable }}", {}),
    ("tests_sameas", "{{ none is sameas none }}|{{ true is sameas true }}|{{ 1 is sameas true }}", {}),
    ("tests_filter_test", "{{ 'upper' is filter }}|{{ 'nope' is filter }}|{{ 'odd' is test }}", {}),
    ("test_unknown", "{{ 1 is frobnicated }}", {}),
    ("test_odd_undefined", "{{ x is odd }}", {}),
    ("test_escaped", "{{ 'a' is escaped }}|{{ 'a'|safe is escaped }}|{{ 'a'|e is escaped }}", {}),
    # ---------------------------------------------------------------- filters
    ("f_length", "{{ 'héllo'|length }}|{{ [1, 2]|length }}|{{ {'a': 1}|length }}|{{ nothing|length }}|{{ 'ab'|count }}", {}),
    ("f_length_generator", "{{ [1, 2]|select|length }}", {}),
    ("f_trim", "[{{ '  a b \\n'|trim }}]|[{{ 'xxaxx'|trim('x') }}]|[{{ nothing|trim }}]", {}),
    ("f_case", "{{ 'hello WORLD'|upper }}|{{ 'HeLLo'|lower }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'hello-world (foo) bAR'|title }}", {}),
    ("f_case_unicode", "{{ 'éàü'|upper }}|{{ 'ÉÀÜ'|lower }}|{{ 'ǆ'|capitalize }}", {}),
    ("f_upper_sharp_s", "{{ 'straße'|upper }}", {}),
    ("f_replace", "{{ 'a-b-c'|replace('-', '+') }}|{{ 'a-b-c'|replace('-', '', 1) }}|{{ 'abc'|replace('', '.') }}|{{ 12|replace('1', 'x') }}", {}),
    ("f_join", "{{ [1, 2, 3]|join }}|{{ ['a', 'b']|join(', ') }}|{{ msgs|join('/', attribute='role') }}|{{ [none, true]|join('-') }}", {"msgs": MSGS[:2]}),
    ("f_default", "{{ nothing|default('d') }}|{{ none|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) }}|{{ 0|d('z', boolean=true) }}|[{{ nothing|default }}]", {}),
    ("f_first_last", "{{ [1, 2, 3]|first }}|{{ [1, 2, 3]|last }}|{{ 'abc'|first }}|{{ 'abc'|last }}|[{{ []|first }}]|{{ {'k': 1, 'j': 2}|last }}", {}),
    ("f_last_generator", "{{ [1, 2]|select|last }}", {}),
    ("f_list", "{{ 'ab'|list }}|{{ {'a': 1}|list }}|{{ range(3)|list }}|{{ nothing|list }}", {}),
    ("f_int_float", "{{ '42'|int }}|{{ '42.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|{{ 3.9|int }}|{{ -3.9|int }}|{{ '0x1A'|int(0, 16) }}|{{ ' 12 '|int }}|{{ '1_000'|int }}|{{ true|int }}|{{ none|int }}", {}),
    ("f_float", "{{ '1.5'|float }}|{{ 'x'|float }}|{{ 3|float }}|{{ ' 2e3 '|float }}|{{ 'inf'|float }}|{{ '-nan'|float }}|{{ 'x'|float(1) }}", {}),
    ("f_int_undefined", "{{ nothing|int }}", {}),
    ("f_round", "{{ 2.5|round }}|{{ 3.5|round }}|{{ 2.675|round(2) }}|{{ 1.25|round(1) }}|{{ 3|round }}|{{ 42.55|round(1, 'floor') }}|{{ 42.51|round(1, 'ceil') }}|{{ -0.5|round }}", {}),
    ("f_abs", "{{ -3|abs }}|{{ (-2.5)|abs }}|{{ 4|abs }}", {}),
    ("f_tojson", "{{ d|tojson }}", {"d": {"b": [1, 2.5, None, True], "a": "x\"y\\z\n\u00e9😀\u0001\u007f", "c": {}}}),
    ("f_tojson_indent", "{{ d|tojson(indent=2) }}", {"d": {"b": [1, [], {}, {"x": [2]}], "a": "s"}}),
    ("f_tojson_options", "{{ d|tojson(sort_keys=true) }}|{{ d|tojson(ensure_ascii=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ d|tojson(indent='\\t') }}", {"d": {"z": "é😀", "a": [1, 2]}}),
    ("f_tojson_scalars", "{{ 1|tojson }}|{{ 1.0|tojson }}|{{ 'a'|tojson }}|{{ none|tojson }}|{{ true|tojson }}|{{ (1, 2)|tojson }}|{{ {1: 'a', true: 'b', none: 'c'}|tojson }}", {}),
    ("f_tojson_positional", "{{ 'é'|tojson(true) }}|{{ [1]|tojson(false, 1) }}", {}),
    ("f_tojson_undefined", "{{ nothing|tojson }}", {}),
    ("f_tojson_tools", "{% for t in tools %}{{ t|tojson }}\n{% endfor %}", {"tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}),
    ("f_map", "{{ msgs|map(attribute='role')|join(',') }}|{{ ['a', 'b']|map('upper')|list }}|{{ [{'a': {'b': 1}}, {}]|map(attribute='a.b', default=0)|list }}", {"msgs": MSGS}),
    ("f_map_print_generator", "{{ [1]|map('string') }}", {}),
    ("f_select", "{{ [1, 2, 3, 4]|select('odd')|list }}|{{ [0, 1, '', 'a']|select|list }}|{{ [1, 2, 3]|reject('gt', 1)|list }}|{{ [1, 2, 3]|select('in', [2, 3])|list }}", {}),
    ("f_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list|length }}|{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='role')|join }}|{{ [{'a': 0}, {'a': 1}, {}]|selectattr('a')|list }}", {"msgs": MSGS}),
    ("f_selectattr_content", "{% for c in messages[3].content|selectattr('type', 'equalto', 'image') %}<image>{% endfor %}{% for c in messages[3].content|selectattr('type', '==', 'text') %}{{ c.text }}{% endfor %}", {"messages": MSGS}),
    ("f_generator_truthy", "{% if []|select %}yes{% else %}no{% endif %}", {}),
    ("f_generator_consumed", "{% set g = [1, 2]|map('string') %}{{ g|list }}{{ g|list }}", {}),
    ("f_sort", "{{ [3, 1, 2]|sort }}|{{ ['b', 'A', 'a', 'C']|sort }}|{{ ['b', 'A', 'a', 'C']|sort(case_sensitive=true) }}|{{ [3, 1, 2]|sort(reverse=true) }}", {}),
    ("f_sort_attr", "{{ users|sort(attribute='age')|map(attribute='name')|join }}|{{ users|sort(attribute='age,name')|map(attribute='name')|join }}|{{ users|sort(attribute='name', reverse=true)|map(attribute='name')|join }}", {"users": [{"name": "c", "age": 2}, {"name": "a", "age": 3}, {"name": "b", "age": 2}]}),
    ("f_sort_mixed", "{{ [1, 'a']|sort }}", {}),
    ("f_dictsort", "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }}|{{ {'b': 1, 'A': 2, 'c': 0}|dictsort(by='value') }}|{{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}", {}),
    ("f_unique", "{{ [1, 2, 1, 3, 2]|unique|list }}|{{ ['a', 'A', 'b']|unique|list }}|{{ ['a', 'A']|unique(true)|list }}", {}),
    ("f_min_max", "{{ [3, 1, 2]|min }}|{{ [3, 1, 2]|max }}|{{ ['b', 'A']|min }}|[{{ []|max }}]|{{ users|max(attribute='age') }}", {"users": [{"age": 1}, {"age": 5}, {"age": 5, "x": 1}]}),
    ("f_sum", "{{ [1, 2, 3]|sum }}|{{ [1.5, 2]|sum }}|{{ users|sum(attribute='age') }}|{{ [[1], [2]]|sum(start=[]) }}", {"users": [{"age": 1}, {"age": 5}]}),
    ("f_reverse", "{{ 'abc'|reverse }}|{{ [1, 2, 3]|reverse|list }}|{{ [1, 2]|select|reverse }}", {}),
    ("f_reverse_print", "{{ [1, 2]|reverse }}", {}),
    ("f_batch_slice", "{{ range(7)|batch(3)|list }}|{{ range(5)|batch(2, 'x')|list }}|{{ range(7)|slice(3)|list }}|{{ range(5)|slice(3, 0)|list }}", {}),
    ("f_indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent('> ', blank=true) }}|{{ 'x\\n'|indent(1) }}", {}),
    ("f_center", "[{{ 'ab'|center(7) }}][{{ 'abc'|center(6) }}][{{ 'a'|center(2) }}]", {}),
    ("f_truncate", "{{ 'hello world foo bar'|truncate(11, leeway=0) }}|{{ 'hello world'|truncate(8, true, '..', 0) }}|{{ 'short'|truncate(10) }}", {}),
    ("f_wordcount", "{{ 'hello big_world, 3 times'|wordcount }}", {}),
    ("f_string", "{{ 1|string + 'x' }}|{{ none|string }}|[{{ nothing|string }}]|{{ [1]|string }}", {}),
    ("f_items", "{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}{{ v }}{% endfor %}|{% for x in nothing|items %}x{% endfor %}", {}),
    ("f_attr", "{{ 'abc'|attr('upper') is defined }}|[{{ {'k': 1}|attr('k') }}]", {}),
    ("f_format", "{{ '%s and %s'|format('a', 'b') }}|{{ '%(x)s!'|format(x=5) }}|{{ '%5.1f|%-4d|%+d'|format(3.14159, 7, 3) }}", {}),
    ("f_escape_safe", "{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|safe }}|{{ '<b>'|escape|escape }}", {}),
    ("f_safe_concat_plain", "{{ ('x'|safe) ~ 'y' }}|{{ 'a' ~ ('<b>'|safe) }}", {}),
    ("f_safe_concat_no_escape", "{{ ('x'|safe) ~ '<y>' }}|{{ '<y>' ~ ('x'|safe) }}", {}),
    ("f_safe_plus_escapes", "{{ ('x'|safe) + '<y>' }}|{{ '<a>' + ('x'|safe) }}|{{ (('x'|safe) + 'y') ~ '<' }}", {}),
    ("f_chain", "{{ '  Hello World  '|trim|lower|replace('world', 'there')|title }}", {}),
    ("f_unknown", "{{ 1|frobnicate }}", {}),
    ("f_unknown_unreached", "{% if false %}{{ 1|frobnicate }}{% endif %}ok", {}),
    ("f_unknown_reached_soft", "{% if true %}{{ 1|frobnicate }}{% endif %}ok", {}),
    ("f_unknown_in_condexpr", "{{ 1|frobnicate if false else 2 }}", {}),
    ("f_unknown_in_loop_in_if", "{% if false %}{% for x in [] %}{{ x|frobnicate }}{% endfor %}{% endif %}", {}),
    ("f_unknown_in_loop_never_run", "{% for x in [] %}{{ x|frobnicate }}{% endfor %}", {}),
    ("test_unknown_soft", "{% if false and 1 is frobnicated %}a{% endif %}b", {}),
    ("f_unknown_in_macro_in_if", "{% if true %}{% macro m() %}{{ 1|nope }}{% endmacro %}{% endif %}x", {}),
    ("f_unknown_in_set_in_if", "{% if false %}{% set x = 1|nope %}{% endif %}x", {}),
    ("f_unsupported_known", "{{ 'a'|urlencode }}", {}),
    # ---------------------------------------------------------------- methods
    ("m_strip", "[{{ '  a  '.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ '  a'.lstrip() }}][{{ 'a\\n\\n'.rstrip('\\n') }}][{{ '\\u3000a\\u00a0'.strip() }}]", {}),
    ("m_split", "{{ 'a,b,,c'.split(',') }}|{{ '  a  b c '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}|{{ ''.split(',') }}|{{ ''.split() }}", {}),
    ("m_split_think", "{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {"c": "<think>\nreasoning here\n</think>\n\nThe answer."}),
    ("m_startswith", "{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith('lo') }}|{{ 'hello'.startswith(('x', 'h')) }}|{{ 'hello'.startswith('l', 2) }}", {}),
    ("m_find", "{{ 'hello'.find('l') }}|{{ 'hello'.rfind('l') }}|{{ 'hello'.find('z') }}|{{ 'héllo'.find('l') }}|{{ 'hello'.count('l') }}|{{ 'hello'.index('e') }}", {}),
    ("m_index_missing", "{{ 'hello'.index('z') }}", {}),
    ("m_case", "{{ 'aBc'.upper() }}|{{ 'aBc'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aBc'.swapcase() }}|{{ \"they're bill's\".title() }}", {}),
    ("m_replace", "{{ 'aaa'.replace('a', 'b') }}|{{ 'aaa'.replace('a', 'b', 2) }}", {}),
    ("m_join", "{{ ', '.join(['a', 'b']) }}|{{ '-'.join('xyz') }}", {}),
    ("m_join_int", "{{ ','.join([1, 2]) }}", {}),
    ("m_format", "{{ '{} and {}'.format('a', 'b') }}|{{ '{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='x') }}|{{ '{:>5}|{:<3}|{:^5}'.format('a', 'b', 'c') }}|{{ '{:.2f}|{:05d}|{:,}'.format(3.14159, 42, 1234567) }}|{{ '{{x}}'.format() }}", {}),
    ("m_predicates", "{{ '123'.isdigit() }}|{{ 'abc'.isalpha() }}|{{ 'a1'.isalnum() }}|{{ '  '.isspace() }}|{{ 'ABC'.isupper() }}|{{ 'abc'.islower() }}|{{ ''.isdigit() }}|{{ 'Hello World'.istitle() }}", {}),
    ("m_misc", "{{ 'ab'.center(6, '*') }}|{{ 'ab'.ljust(4, '.') }}|{{ 'ab'.rjust(4) }}|{{ '42'.zfill(5) }}|{{ '-42'.zfill(5) }}|{{ 'a=b=c'.partition('=') }}|{{ 'a=b=c'.rpartition('=') }}", {}),
    ("m_prefix", "{{ 'prefix_x'.removeprefix('prefix_') }}|{{ 'x.txt'.removesuffix('.txt') }}|{{ 'a\\nb\\r\\nc'.splitlines() }}", {}),
    ("m_dict", "{{ d.get('a') }}|{{ d.get('z') }}|{{ d.get('z', 9) }}|{{ d.keys()|list }}|{{ d.values()|list }}|{{ d.items()|list }}", {"d": {"a": 1, "b": 2}}),
    ("m_dict_views_print", "{{ d.keys() }}|{{ d.items() }}|{{ d.values()|length }}", {"d": {"a": 1}}),
    ("m_list", "{{ xs.count(1) }}|{{ xs.index(2) }}|{{ xs.copy() }}", {"xs": [1, 2, 1]}),
    ("m_unknown_method", "[{{ 'a'.nope }}]", {}),
    ("m_call_unknown", "{{ 'a'.nope() }}", {}),
    ("m_number_not_callable", "{{ 1() }}", {}),
    # ---------------------------------------------------------------- globals
    ("raise_exception", "a{{ raise_exception('Conversation roles must alternate') }}b", {}),
    ("raise_exception_unreached", "{% if false %}{{ raise_exception('no') }}{% endif %}ok", {}),
    ("strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M:%S %A %b %d') }}|{{ strftime_now('%d %B %Y') }}", {}),
    ("globals_defined", "{{ range is defined }}|{{ namespace is defined }}|{{ raise_exception is defined }}|{{ lipsum is defined }}", {}),
    ("var_shadows_global", "{{ range }}", {"range": "mine"}),
    # ---------------------------------------------------------------- syntax errors
    ("err_unclosed_if", "{% if true %}x", {}),
    ("err_unclosed_for", "{% for x in y %}x{% if z %}{% endif %}", {}),
    ("err_unclosed_var", "{{ x", {}),
    ("err_unclosed_comment", "{# x", {}),
    ("err_unclosed_string", "{{ 'abc }}", {}),
    ("err_bad_char", "{{ x ! y }}", {}),
    ("err_unknown_tag", "{% frob %}", {}),
    ("err_do_tag", "{% do x %}", {}),
    ("err_endfor_mismatch", "{% if x %}{% endfor %}", {}),
    ("err_unbalanced", "{{ (1 }}", {}),
    ("err_bad_bracket", "{{ [1) }}", {}),
    ("err_empty_expr", "{{ }}", {}),
    ("err_trailing_op", "{{ 1 + }}", {}),
    ("err_elif_after_else", "{% if a %}{% else %}{% elif b %}{% endif %}", {}),
    ("err_set_literal", "{% set 1 = 2 %}", {}),
    ("err_macro_default_order", "{% macro m(a=1, b) %}{% endmacro %}", {}),
    ("err_include", "{% include 'x.html' %}", {}),
    ("err_extends", "{% extends 'base' %}", {}),
    ("err_bad_escape", "{{ '\\x4' }}", {}),
    ("err_chained_is", "{{ 1 is odd is even }}", {}),
    ("err_unclosed_raw", "{% raw %}abc", {}),
    # ---------------------------------------------------------------- more edge cases
    ("lex_string_with_block_end", "{% set x = '%}' %}{{ x }}|{{ '}}' }}|{{ '{{' }}", {}),
    ("lex_nested_dict_braces", "{{ {'a': {'b': 1}}}}", {}),
    ("lex_tab_mid_line", "a\t{% if true %}x{% endif %}", {}),
    ("lex_after_var_lstrip", "{{ 'v' }}\n   {% if true %}x{% endif %}", {}),
    ("lex_comment_start_newline", "{# c #}\nx", {}),
    ("lex_minus_everywhere", "  a  \n  {%- if true -%}  \n  b  \n  {%- endif -%}  \n  c  ", {}),
    ("lex_block_crlf", "{% if true %}\r\n  x\r\n{% endif %}\r\ny", {}),
    ("lex_only_brace_end", "x {", {}),
    ("lex_raw_plus", "{%+ raw %}  {{ a }}{% endraw +%}\nz", {}),
    ("lex_comment_plus", "a\n  {#+ c +#}\nb", {}),
    ("lex_var_minus_only_left", "a \n {{- 'b' }} \n c", {}),
    ("lex_unicode_identifier", "{{ ñ }}", {}),
    ("num_float_repr_edges", "{{ 123456789012345678.0 }}|{{ -0.0 }}|{{ 5e-324 }}|{{ 1.7976931348623157e308 }}|{{ 2.5e-5 }}|{{ 1e22 }}|{{ 0.1 * 3 }}", {}),
    ("num_float_ops", "{{ 7 // 2.0 }}|{{ -7 % 2.5 }}|{{ 2 ** 0.5 }}|{{ 10 / 4 }}|{{ 1e300 * 1e10 }}|{{ -1e300 * 1e10 }}", {}),
    ("num_float_pow_overflow", "{{ 10.0 ** 400 }}", {}),
    ("num_bigint", "{{ 2 ** 64 }}", {}),
    ("num_neg_pow", "{{ -2 ** 2 }}|{{ (-2) ** 3 }}|{{ 2 ** -2 }}", {}),
    ("num_int_attr", "{{ (1).real }}", {}),
    ("round_half_even", "{{ 0.125|round(2) }}|{{ 0.375|round(2) }}|{{ 1.5|round }}|{{ 0.5|round }}|{{ 2.5|round(0, 'floor') }}|{{ 1234|round(-2) }}|{{ 1250|round(-2) }}", {}),
    ("str_split_edge", "{{ 'a b  c'.split(' ') }}|{{ '  a b '.rsplit(None, 1) }}|{{ 'a,b,c'.split(',', 0) }}|{{ 'a,b,c'.rsplit(',', -1) }}|{{ '\\ta\\nb'.split() }}", {}),
    ("str_split_empty_sep", "{{ 'abc'.split('') }}", {}),
    ("str_strip_set", "{{ 'xyhixy'.strip('yx') }}|{{ 'abc'.lstrip('') }}|{{ '..a..'.rstrip('.') }}", {}),
    ("str_splitlines_keep", "{{ 'a\\nb\\r\\n\\nc\\x0bd'.splitlines(true) }}|{{ 'x\\u2028y'.splitlines() }}", {}),
    ("str_title_edge", "{{ 'hello 2nd wORLD'.title() }}|{{ 'hello 2nd wORLD'|title }}|{{ 'a-b c_d'|title }}|{{ 'x(y)[z]{w}<v>'|title }}", {}),
    ("str_find_edge", "{{ 'abc'.find('c', 5) }}|{{ 'abc'.find('', 3) }}|{{ 'aaa'.count('') }}|{{ 'aaaa'.count('aa') }}|{{ 'abcabc'.rfind('b', 0, 3) }}|{{ 'abc'.startswith('b', -2) }}", {}),
    ("str_replace_zero", "{{ 'aaa'.replace('a', 'b', 0) }}|{{ 'aaa'|replace('a', 'b', 0) }}", {}),
    ("str_multiply_neg", "[{{ 'ab' * -1 }}][{{ [1] * 0 }}]", {}),
    ("str_percent_more", "{{ '%5s|%-5s|%.2s|%c|%o|%#x|%e|%g|%G|%i' % ('ab', 'cd', 'xyz', 65, 8, 255, 12345.678, 0.0001, 1e20, 7.9) }}", {}),
    ("str_percent_undefined", "[{{ '%s' % nothing }}]", {}),
    ("str_percent_errors", "{{ '%s %s' % ('a',) }}", {}),
    ("str_percent_extra", "{{ '%s' % ('a', 'b') }}", {}),
    ("str_percent_list_mapping", "{{ 'abc' % [1] }}|{{ '%s' % [1, 2] }}", {}),
    ("str_format_more", "{{ '{0[a]}-{0[b][1]}'.format({'a': 1, 'b': [2, 3]}) }}|{{ '{!r}'.format('x') }}|{{ '{:*^7}'.format('mid') }}|{{ '{:+d}|{: d}'.format(5, 5) }}|{{ '{:x}|{:#o}|{:b}'.format(255, 8, 5) }}|{{ '{:.1%}'.format(0.25) }}", {}),
    ("str_format_float_default", "{{ '{}|{:10}|{:<8}|'.format(1.5, 2.25, 3.0) }}", {}),
    ("str_format_bool_none", "{{ '{}|{}|{:>6}'.format(true, none, false) }}", {}),
    ("dict_key_merge", "{{ {1: 'a', 1.0: 'b', true: 'c'} }}|{{ {'a': 1, 'a': 2} }}", {}),
    ("dict_tuple_key", "{{ {(1, 2): 'x'}[(1, 2)] }}", {}),
    ("dict_unhashable_key", "{{ {[1]: 2} }}", {}),
    ("dict_views_in", "{{ 'a' in d.keys() }}|{{ ('a', 1) in d.items() }}|{{ 2 in d.values() }}|{{ d.items()|length }}", {"d": {"a": 1}}),
    ("undefined_semantics", "[{{ x|length }}|{{ x|default(y) }}|{{ x|string }}|{{ x is none }}|{{ x ~ 'a' }}|{{ x|first }}|{{ x|join(',') }}|{{ x|list }}|{{ x|upper }}|{{ x == x }}|{{ not x }}|{{ x and 1 }}|{{ x or 'o' }}]", {}),
    ("undefined_index", "{{ x[0] }}", {}),
    ("undefined_neg", "{{ -x }}", {}),
    ("undefined_in_list", "{{ [x] }}|{{ [x]|length }}", {}),
    ("undefined_iter_test", "{{ x is iterable }}|{{ x is sequence }}|{{ x is string }}|{{ x is mapping }}|{{ x is number }}", {}),
    ("undefined_attr_of_defined_none", "{{ v is none }}|[{{ v.a }}]|[{{ v['b'] }}]", {"v": None}),
    ("markup_is_string", "{{ ('a'|safe) is string }}|{{ ('<'|e)|length }}|{{ ('a'|safe) == 'a' }}", {}),
    ("filter_kwargs", "{{ [1, 2]|join(d='+') }}|{{ x|default(default_value='dv') }}|{{ 'a b'|replace(old='a', new='z') }}", {}),
    ("filter_bad_kwarg", "{{ [1]|join(sep=',') }}", {}),
    ("call_star_args", "{% macro m(a, b) %}{{ a }}{{ b }}{% endmacro %}{{ m(*[1, 2]) }}", {}),
    ("call_kw_then_pos", "{{ range(stop=3, 1) }}", {}),
    ("set_block_in_macro", "{% macro m() %}{% set t %}inner{% endset %}[{{ t }}]{% endmacro %}{{ m() }}[{{ t }}]", {}),
    ("namespace_in_loop", "{% for i in range(2) %}{% set ns = namespace(v=i) %}{% set ns.v = ns.v * 10 %}{{ ns.v }} {% endfor %}", {}),
    ("namespace_list_append", "{% set ns = namespace(items=[]) %}{% for i in range(3) %}{% set ns.items = ns.items + [i] %}{% endfor %}{{ ns.items }}", {}),
    ("loop_revindex_filtered", "{% for x in range(6) if x is even %}{{ x }}:{{ loop.revindex }}:{{ loop.previtem }} {% endfor %}", {}),
    ("range_slice_reverse", "{{ range(10)[::3]|list }}|{{ range(3)|reverse|list }}|{{ (1, 2)|reverse|list }}|{{ range(10)[-2:]|list }}", {}),
    ("ternary_concat_precedence", "{{ 'a' if x else 'b' ~ 'c' }}|{{ ('a' if x else 'b') ~ 'c' }}", {}),
    ("ternary_filter", "{{ 'x' if true else 'y'|upper }}|{{ ('x' if false else 'y')|upper }}", {}),
    ("compare_in_chain", "{{ 1 in [1] in [[1]] }}|{{ 'a' in ['a', 'b'] and 'c' not in 'ab' }}", {}),
    ("not_none_if", "{{ not none }}|[{{ 1 if none }}]", {}),
    ("macro_calls_later_macro", "{% macro a() %}A{{ b() }}{% endmacro %}{% macro b() %}B{% endmacro %}{{ a() }}", {}),
    ("macro_in_loop_captures", "{% for i in [1, 2] %}{% macro m() %}{{ i }}{% endmacro %}{{ m() }}{% endfor %}", {}),
    ("macro_no_loop_access", "{% macro m() %}[{{ loop is defined }}]{% endmacro %}{% for i in [1] %}{{ m() }}{% endfor %}", {}),
    ("macro_caller_nested", "{% macro outer() %}({{ caller() }}){% endmacro %}{% macro inner() %}[{{ caller() }}]{% endmacro %}{% call outer() %}{% call inner() %}x{% endcall %}{% endcall %}", {}),
    ("filter_block_args", "{% filter replace('a', 'b') %}banana{% endfilter %}|{% filter trim|upper %}  x  {% endfilter %}", {}),
    ("sort_missing_attr", "{{ [{'a': 1}, {}]|sort(attribute='a') }}", {}),
    ("tojson_more", "{{ {(1, 2): 3}|tojson }}", {}),
    ("tojson_sort_mixed", "{{ {1: 'a', 'b': 2}|tojson(sort_keys=true) }}", {}),
    ("tojson_special_floats", "{{ [1e400, -1e400]|tojson }}|{{ ('nan'|float)|tojson }}|{{ 1e16|tojson }}|{{ -0.0|tojson }}", {}),
    ("tojson_unicode_controls", "{{ '\\u2028\\u00ad\\x7f\\x1f'|tojson }}|{{ '\\u2028\\x7f'|tojson(ensure_ascii=true) }}", {}),
    ("dict_attr_get", "{{ {'a': 1}.a }}|{{ {'a': 1}.get('a') }}|{{ {'get': 5}.get }}", {}),
    ("ns_attr_defined", "{% set x = namespace() %}{{ x.y is defined }}|{{ x['y'] is defined }}", {}),
    ("mixed_concat", "{{ 1 ~ 2.5 ~ none ~ (1, 2) ~ {'a': none} }}", {}),
    ("elif_no_expr", "{% if x %}{% elif %}{% endif %}", {}),
    ("for_no_in", "{% for x %}{% endfor %}", {}),
    ("endif_toplevel", "{% endif %}", {}),
    ("set_no_target", "{% set = 1 %}", {}),
    ("macro_no_parens", "{% macro m %}{% endmacro %}", {}),
    ("unexpected_end_in_expr", "{{ [1, 2 }}", {}),
    ("attribute_number", "{{ xs.0.1 }}", {"xs": [[1, 2]]}),
    ("getattr_on_loop", "{% for x in [1] %}[{{ loop.nope }}]{{ loop['index'] }}{% endfor %}", {}),
    ("loop_print", "{% for x in [1, 2] %}{{ loop }}{% endfor %}", {}),
    ("string_iteration_unicode_slice", "{{ '😀a😀'[1] }}|{{ '😀a😀'[-1:] }}|{{ '😀a😀'|length }}|{{ '😀a😀'|reverse }}", {}),
    ("int_filter_bases", "{{ '0b101'|int(0, 2) }}|{{ 'ff'|int(0, 16) }}|{{ '-12'|int }}|{{ '+7'|int }}|{{ '1__0'|int }}|{{ '1e3'|int }}|{{ ''|int }}|{{ 'nan'|int(5) }}", {}),
    ("float_filter_forms", "{{ '.5'|float }}|{{ '5.'|float }}|{{ '1_0.5'|float }}|{{ 'Infinity'|float }}|{{ '-inf'|float }}|{{ '1e'|float }}|{{ '1.5.2'|float }}", {}),
    ("int_float_inf", "{{ 'inf'|int }}", {}),
    ("length_of_things", "{{ range(5)|length }}|{{ (1, 2)|length }}|{{ {'a': {}}|length }}|{{ ''|length }}", {}),
    ("length_of_none", "{{ none|length }}", {}),
    ("batch_zero", "{{ [1, 2]|batch(0)|list }}", {}),
    ("slice_more", "{{ range(10)|slice(4)|list }}|{{ []|slice(2)|list }}", {}),
    ("unique_attr", "{{ [{'r': 'A'}, {'r': 'a'}, {'r': 'b'}]|unique(attribute='r')|map(attribute='r')|list }}", {}),
    ("minmax_strings_case", "{{ ['b', 'a', 'C']|max }}|{{ ['b', 'a', 'C']|max(case_sensitive=true) }}|{{ 'hello'|min }}", {}),
    ("sum_floats", "{{ [0.1, 0.2, 0.3]|sum }}|{{ []|sum }}|{{ range(4)|sum(start=10) }}", {}),
    ("sum_strings", "{{ ['a', 'b']|sum }}", {}),
    ("first_of_dict_gen", "{{ {'x': 1, 'y': 2}|first }}|{{ [3, 4]|select|first }}", {}),
    ("join_nested", "{{ [[1, 2], [3]]|join(';') }}|{{ [1.0, none]|join }}", {}),
    ("escape_types", "{{ 5|e }}|{{ none|e }}|{{ nothing|e }}|{{ [1, '<']|e }}", {}),
    ("center_unicode", "[{{ 'é'|center(4) }}]|[{{ '😀'.center(3, '-') }}]", {}),
    ("wordcount_unicode", "{{ 'héllo wörld 123 _x_ 日本'|wordcount }}", {}),
    ("truncate_more", "{{ 'one two three four five six seven eight nine ten'|truncate(20) }}|{{ 'abcdefghij'|truncate(5, true, '') }}", {}),
    ("indent_more", "{{ 'a\\r\\nb'|indent(2) }}|{{ ''|indent }}|{{ 'a'|indent(first=true) }}", {}),
    ("capitalize_edge", "{{ ''|capitalize }}|{{ '1abc'|capitalize }}|{{ 'ABC def'|capitalize }}", {}),
    ("reverse_dict", "{{ {'a': 1, 'b': 2}|reverse|list }}", {}),
    ("list_of_dict_items", "{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}|{{ {'a': 1}|items|list }}", {}),
    ("attr_filter_unsafe", "[{{ [1]|attr('append') }}]", {}),
    ("map_filter_args", "{{ ['a', 'b']|map('replace', 'a', 'z')|list }}|{{ [1.26, 2.5]|map('round', 1)|list }}|{{ ['x']|map('default', 'd')|list }}", {}),
    ("map_unknown_filter", "{{ [1]|map('nope')|list }}", {}),
    ("select_unknown_test", "{{ [1]|select('nope')|list }}", {}),
    ("round_negative_float", "{{ 1234.5|round(-2) }}|{{ 1250.0|round(-2) }}|{{ 1350.0|round(-2) }}|{{ -1250.5|round(-2) }}|{{ 49.9|round(-2) }}|{{ 50.0|round(-2) }}|{{ 150.0|round(-2) }}|{{ 9999.9|round(-1) }}|{{ 2.5|round(-400) }}|{{ 2.5|round(400) }}|{{ 1234.5|round(-2, 'ceil') }}|{{ 1234.5|round(-1, 'floor') }}", {}),
    ("round_int_big", "{{ 9000000000000000000|round(-19) }}|{{ 4000000000000000000|round(-19) }}|{{ 123|round(-30) }}", {}),
    ("slice_bad", "{{ n[1:] }}", {"n": 5}),
    ("slice_bad_in_set", "{% set y = 5[1:] %}{{ y }}", {}),
    ("slice_undefined_part", "{{ 'abc'[:nothing] }}", {}),
    ("slice_dict", "{{ d[1:] }}", {"d": {"a": 1}}),
    ("slice_generator", "{{ ([1, 2]|select)[1:] }}", {}),
    ("slice_undefined_obj", "{{ nothing[1:] }}", {}),
    ("find_start_beyond", "{{ 'a'.find('', 3) }}|{{ 'a'.count('', 3) }}|{{ 'abc'.startswith('', 4) }}|{{ 'abc'.endswith('', 3) }}|{{ 'abc'.rfind('', 5) }}|{{ 'abc'.count('', -10) }}", {}),
    ("percent_mapping_like", "[{{ 'abc' % nothing }}]|[{{ 'x%sy' % nothing }}]|[{{ 'abc' % range(2) }}]", {}),
    ("percent_not_mapping", "{{ 'abc' % 5 }}", {}),
    ("undefined_hashable", "{{ {(1, nothing): 'x'}[(2, 2)] is defined }}|{{ [1, nothing, 1]|unique|list|length }}", {}),
    ("strip_undefined_arg", "{{ ' a '.strip(nothing) }}", {}),
    ("trim_undefined_arg", "{{ ' a '|trim(nothing) }}", {}),
    ("splitlines_bad_arg", "{{ 'a'.splitlines(nothing) }}", {}),
    ("splitlines_int_arg", "{{ 'a\nb'.splitlines(1) }}", {}),
    ("namespace_undefined_arg", "{{ namespace(nothing, b=1) }}", {}),
    ("dict_undefined_arg", "{{ dict(nothing) }}", {}),
    ("safe_with_arg", "{{ 'a'|safe(1) }}", {}),
    ("escape_with_arg", "{{ 'a'|e(1) }}", {}),
    ("map_empty_bad_args", "[{{ []|map(bogus=1)|join }}][{{ nothing|map()|list }}]", {}),
    ("raw_at_end", "a{% raw %}", {}),
    ("comment_at_end", "a{#", {}),
    ("comment_minus_end_at_end", "a{#-", {}),
    ("comment_minus_then_end", "a  {#-#}  b", {}),
    ("raw_unclosed_with_text", "{% raw %}x", {}),
    ("comment_unclosed_with_text", "{# x", {}),
    ("undefined_dunder", "[{{ nothing.__class__ }}][{{ nothing.__doc__ }}]", {}),
    ("undefined_private", "{{ nothing._x }}", {}),
    ("int_filter_bad_base", "{{ '12'|int(0, nothing) }}|{{ 'x'|int(3, 'q') }}|{{ '12'|int(0, 1) }}|{{ '1.5'|int(0, 99) }}|{{ '010'|int(0, 0) }}", {}),
    ("format_field_lookups", "[{{ '{0[a]}-{0[nope]}-{0.nope}'.format({'a': 1}) }}]|[{{ '{0[[b1]}|{0[}]}'.format({'[b1': 5, '}': 6}) }}]|[{{ '{0.x}'.format(none) }}]", {}),
    ("percent_spec_percent", "{{ '%5%' % () }}", {}),
    ("percent_spec_percent_arg", "{{ '%5%' % (1,) }}", {}),
    ("percent_literal", "{{ '100%% %s' % 'x' }}|{{ 'a%%b' % () }}", {}),
    ("format_auto_and_accessors", "{{ '{}{.0}'.format(1.5, 2) }}", {}),
    ("format_mixed_numbering", "{{ '{}-{0[a]}'.format({'a': 1}) }}|{{ '{0[a]}-{}'.format({'a': 2}) }}", {}),
    ("format_switch_error", "{{ '{}{0}'.format(1) }}", {}),
    ("select_nul_test_name", "{{ [1]|select('odd\x00x')|list }}", {}),
    ("attribute_other_types", "{{ [[1, 2]]|map(attribute=1)|list }}|{{ [{none: 'n'}]|map(attribute=none)|list }}|[{{ nothing|max(attribute=[1]) }}]", {}),
    ("dotted_filter_soft", "{% if false %}{{ x|e.values() }}{% endif %}ok", {}),
    ("dotted_filter_hard", "{{ x|e.values() }}", {}),
    ("dotted_test_soft", "{% if false %}{{ x is a.b }}{% endif %}ok", {}),
    ("dotted_filter_reached", "{% if true %}{{ 1|list.x }}{% endif %}", {}),
    ("truncate_non_string", "{{ {'a': 1}|truncate(5)|e }}|{{ [1, 2]|truncate(1, leeway=1) }}", {}),
    ("truncate_long_list", "{{ range(20)|list|truncate(5, leeway=0) }}", {}),
    ("scope_root_store_after_loop", "{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 5 %}", {"n": 3}),
    ("scope_root_load_first", "{% for i in [1] %}[{{ n }}]{% endfor %}{{ n }}{% set n = 5 %}", {"n": 3}),
    ("scope_root_load_before_loop", "{{ n }}{% for i in [1] %}[{{ n }}]{% endfor %}{% set n = 5 %}", {"n": 3}),
    ("scope_branch_store", "{% if true %}{% set n = 5 %}{% endif %}{% for i in [1] %}[{{ n }}]{% endfor %}", {"n": 3}),
    ("scope_branch_store_not_taken", "{% if false %}{% set n = 5 %}{% endif %}{% for i in [1] %}[{{ n }}]{% endfor %}", {"n": 3}),
    ("scope_if_else_both_store", "{% for i in [1] %}[{{ n }}]{% endfor %}{% if x %}{% set n = 1 %}{% else %}{% set n = 2 %}{% endif %}", {"n": 3, "x": True}),
    ("scope_if_elif_else_all_store", "{% for i in [1] %}[{{ n }}]{% endfor %}{% if x %}{% set n = 1 %}{% elif y %}{% set n = 2 %}{% else %}{% set n = 3 %}{% endif %}", {"n": 9, "x": True}),
    ("scope_macro_before_store", "{% macro m() %}[{{ n }}]{% endmacro %}{{ m() }}{% set n = 5 %}{{ m() }}", {"n": 3}),
    ("scope_macro_store_inside", "{% macro m() %}{{ n }}{% set n = 5 %}{{ n }}{% endmacro %}{{ m() }}", {"n": 3}),
    ("scope_nested_loop_store_after", "{% for i in [1] %}{% for j in [1] %}[{{ n }}]{% endfor %}{% set n = 5 %}{% endfor %}", {"n": 3}),
    ("scope_loop_store_reset", "{% for i in [1, 2] %}[{{ n }}]{% set n = 5 %}{% endfor %}", {"n": 3}),
    ("scope_filter_block_leak", "{% filter upper %}{% set x = 'in' %}{{ x }}{% endfilter %}[{{ x }}]", {}),
    ("scope_set_block_leak", "{% set b %}{% set y = 1 %}{{ y }}{% endset %}[{{ y }}]{{ b }}", {}),
    ("scope_for_else_leak", "{% for i in [] %}{% else %}{% set z = 1 %}{% endfor %}[{{ z }}]", {}),
    ("scope_generation_leak", "{% generation %}{% set g = 1 %}{% endgeneration %}[{{ g }}]", {}),
    ("scope_with_store", "{% with a = 1 %}{% set b = 2 %}{{ a }}{{ b }}{% endwith %}[{{ b }}]", {}),
    ("scope_macro_default_later", "{% macro m(p=n) %}[{{ p }}]{% endmacro %}{{ m() }}{% set n = 5 %}{{ m() }}", {"n": 3}),
    ("scope_call_block_store", "{% macro w() %}{{ caller() }}{% endmacro %}{% call w() %}{% set c = 1 %}{{ c }}{% endcall %}[{{ c }}]", {}),
    ("scope_loop_var_shadow_later", "{% for i in [1] %}{% for j in [1] %}{{ i }}{% endfor %}{% endfor %}{% set i = 9 %}", {"i": 4}),
    ("scope_macro_in_loop_late", "{% for k in [1] %}{% macro m() %}[{{ q }}]{% endmacro %}{{ m() }}{% set q = 2 %}{{ m() }}{% endfor %}", {"q": 7}),
    ("case_special", "{{ 'ﬁnd ßtraße'|upper }}|{{ 'ﬁnd ßtraße'.title() }}|{{ 'ßx'|capitalize }}|{{ 'İstanbul'|lower }}|{{ 'ǅ ǆ Ǆ'.swapcase() }}|{{ 'ŉ ǰ ΐ'.upper() }}|{{ 'ßa-ﬀ'|title }}", {}),
    ("case_sigma", "{{ 'ΣΑΣ'|lower }}", {}),
    ("for_else_break", "{% for i in [1, 2] %}x{% break %}{% else %}ELSE{% endfor %}", {}),
    ("for_else_continue", "{% for i in [1, 2] %}x{% continue %}{% else %}ELSE{% endfor %}", {}),
    ("for_else_partial_continue", "{% for i in [1, 2] %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% else %}ELSE{% endfor %}", {}),
    ("for_else_break_after_full", "{% for i in [1, 2] %}{{ i }}{% if i == 2 %}{% break %}{% endif %}{% else %}ELSE{% endfor %}", {}),
    ("sort_undefined_items", "{{ [nothing, nothing]|sort|length }}|{{ [{'a': 1}, {'a': 1}]|sort }}", {}),
    ("markup_repr", "{{ ['<'|e, 'a'|safe, ('x'|safe) + '&'] }}|{{ {'k': 'v'|safe} }}", {}),
    ("round_ceil_negzero", "{{ -0.125|round(0, 'ceil') }}|{{ -0.4|round(0, 'floor') }}|{{ (0 / -7)|round(-1, 'ceil') }}", {}),
    ("select_on_undefined", "{{ nothing|select|list }}|{{ nothing|map('upper')|list }}", {}),
    # ---------------------------------------------------------------- chat-template idioms
    ("idiom_loop_messages", "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}{{ sys }}|{{ loop_messages|length }}", {"messages": MSGS}),
    ("idiom_alternation", "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ message['role'] }}{% endfor %}", {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
    ("idiom_content_types", "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for c in m.content %}{% if c.type == 'image' or 'image' in c %}<img>{% elif c.type == 'text' %}{{ c.text }}{% endif %}{% endfor %}{% endif %}\n{% endfor %}", {"messages": MSGS}),
    ("idiom_last_query_index", "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}{%- if ns.multi_step_tool and message.role == 'user' and message.content is string %}{%- set ns.multi_step_tool = false %}{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}{{ ns.last_query_index }}", {"messages": MSGS}),
    ("idiom_enable_thinking", "{%- if enable_thinking is defined and enable_thinking is false %}off{% else %}on{% endif %}", {"enable_thinking": False}),
    ("idiom_tool_calls", "{% for tc in calls %}{% if tc.function %}{% set tc = tc.function %}{% endif %}{{ tc.name }}:{% if tc.arguments is string %}{{ tc.arguments }}{% else %}{{ tc.arguments|tojson }}{% endif %};{% endfor %}", {"calls": [{"function": {"name": "f", "arguments": {"x": 1, "y": "é"}}}, {"name": "g", "arguments": "{\"z\": 2}"}]}),
    ("idiom_vision_counts", "{% set image_count = namespace(value=0) %}{% for m in messages %}{% if m.content is not string %}{% for c in m.content %}{% if c['type'] == 'image' or 'image' in c or 'image_url' in c %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}{% endfor %}", {"messages": MSGS, "add_vision_id": True}),
    ("idiom_capitalize_role", "{% for m in messages %}{{ m['role']|capitalize }}{% if m['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}\n{% endfor %}", {"messages": [{"role": "user", "content": [{"type": "image"}]}, {"role": "assistant", "content": [{"type": "text", "text": "x"}]}]}),
    ("idiom_bos_eos", "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}", {"bos_token": "<s>", "eos_token": "</s>", "messages": MSGS[:3]}),
    ("idiom_upper_role", "{% for m in messages %}{{ m['role'].upper() + ': ' }}{% endfor %}", {"messages": MSGS[:3]}),
    ("idiom_block_in_list", "{% if block['type'] in ['image', 'image_url'] %}[IMG]{% endif %}", {"block": {"type": "image_url"}}),
    ("idiom_mistral_system", "{%- set today = strftime_now('%Y-%m-%d') %}{%- set default_system_message = 'You are Mistral. Today is ' + today + '.' %}{{- '[SYSTEM_PROMPT]' + default_system_message + '[/SYSTEM_PROMPT]' }}", {}),
    ("idiom_whitespace_heavy", "{%- for message in messages %}\n    {%- if message.role == 'user' %}\n        {{- '<|im_start|>user\\n' + message.content + '<|im_end|>\\n' }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n", {"messages": MSGS[:2], "add_generation_prompt": True}),
    ("idiom_gemma_trim", "{%- for m in messages -%}\n    {{ '<start_of_turn>' + m['role'] + '\n' }}\n    {%- if m['content'] is string -%}\n        {{ m['content'] | trim }}\n    {%- endif -%}\n    {{ '<end_of_turn>\n' }}\n{%- endfor -%}", {"messages": [{"role": "user", "content": "  padded  "}]}),
]


# Cases whose jinja2 result this engine refuses on purpose (VLM_ERR_UNSUPPORTED): Python's
# multi-character case mappings and filters outside the supported set.
UNSUPPORTED = {"f_unsupported_known", "lex_unicode_identifier", "case_sigma", "num_bigint",
               "num_int_attr", "call_star_args", "round_int_big"}


def render_case(env, template, variables):
    try:
        tmpl = env.from_string(template)
    except Exception as e:  # compile-time error
        return {"error": f"{type(e).__name__}: {e}"}
    try:
        return {"output": tmpl.render(**variables)}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out_path = os.path.join(root, "tests", "fixtures", "jinja", "cases.json")
    env = make_env()
    names = set()
    cases = []
    for name, template, variables in CASES:
        if name in names:
            sys.exit(f"duplicate case name {name}")
        names.add(name)
        entry = {"name": name, "template": template, "vars": variables}
        entry.update(render_case(env, template, variables))
        if "output" in entry and " at 0x" in entry["output"]:
            # jinja2 printed an object's memory address: not reproducible; an error is right.
            entry["error"] = "nondeterministic output: " + entry.pop("output")
        if name in UNSUPPORTED:
            entry["unsupported"] = True
        cases.append(entry)
    doc = {
        "generator": "tools/refgen/jinja_cases.py",
        "jinja2": jinja2.__version__,
        "python": sys.version.split()[0],
        "now": FIXED_NOW,
        "tz": "UTC",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum(1 for c in cases if "error" in c)
    print(f"wrote {out_path}: {len(cases)} cases ({n_err} expect an error)")


if __name__ == "__main__":
    main()
