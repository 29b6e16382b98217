{#-
  clean_email(expr): a single SQL expression that cleans a raw CRM email value (the decisions are in
  docs/email_validation.md, "Cleanup decisions"). Validation happens later in Python; nothing is guessed here:
  internal spaces, two addresses in one cell, typos such as ".con" stay as they are and get rejected there.

  Steps (innermost first):
   1. translate(): delete invisible characters (soft hyphen, zero-width space/joiners, LRM/RLM, bidi
      embeddings and isolates, word joiner, BOM); fold odd spaces (tab, CR, LF, NBSP, U+2000-U+200A,
      line/paragraph separators, U+202F, U+205F, U+3000 ...) to ' '; fold full-width ASCII (U+FF01-U+FF5E),
      the small commercial at and ideographic full stops to ASCII. Then trim and lower-case.
   2. a display name or angle brackets:  'Jane <jane@x.com>;'  ->  'jane@x.com'
   3. a mailto: prefix and its ?query:    'mailto:jane@x.com?subject=Hi'  ->  'jane@x.com'
   4. a trailing comment:                 'jane@x.com (work)'  ->  'jane@x.com'
   5. wrapping quotes (straight or curly), parentheses, brackets:  '"jane@x.com"'  ->  'jane@x.com'
      (only as a pair: a lone leading apostrophe is legal atext and stays)
   6. a stray leading '<', a stray trailing '>' and trailing punctuation (. , ; : ! ?)
   7. empty -> NULL (validation then says NULL_EMAIL); NULL stays NULL.

  Written for DuckDB (RE2) and PostgreSQL (ARE): the patterns use only what both engines read the same
  way (anchors, bracket expressions, greedy quantifiers, (?:) groups, \1-\7 in replacements) and
  3-argument regexp_replace; odd characters reach the SQL as literal UTF-8 in string literals.
  Lower-casing non-ASCII letters on PostgreSQL follows the database's LC_CTYPE (use a UTF-8 locale).
-#}
{% macro clean_email(expr) %}
  {{- return(adapter.dispatch('clean_email', 'dbt_hubspot_sync')(expr)) -}}
{% endmacro %}

{% macro default__clean_email(expr) %}
  {#- Characters removed outright. -#}
  {%- set invisible = '\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e'
                      ~ '\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff' -%}
  {#- Characters that become an ASCII space (then trimmed, or left inside to be rejected). -#}
  {%- set spaces = '\t\n\u000b\u000c\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006'
                   ~ '\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000' -%}
  {#- Full-width ASCII U+FF01-U+FF5E, small commercial at, ideographic and half-width ideographic full stop. -#}
  {%- set wide = '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰ'
                 ~ 'ＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～﹫。｡' -%}
  {%- set narrow = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOP"
                   ~ "QRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~@.." -%}
  {#- translate() deletes the 'from' characters that have no counterpart in 'to': the invisible ones. -#}
  {%- set from_chars = wide ~ spaces ~ invisible -%}
  {%- set to_chars = narrow ~ (' ' * (spaces | length)) -%}
  {%- set folded = "lower(trim(translate(" ~ expr ~ ", "
      ~ dbt.string_literal(dbt.escape_single_quotes(from_chars)) ~ ", "
      ~ dbt.string_literal(dbt.escape_single_quotes(to_chars)) ~ ")))" -%}
  {%- set display_name = "trim(regexp_replace(" ~ folded
      ~ ", '^[^<>]*<([^<>]*)>[ .,;:]*$', '\\1'))" -%}
  {%- set mailto = "regexp_replace(" ~ display_name ~ ", '^mailto: *([^?]*).*$', '\\1')" -%}
  {%- set comment = "regexp_replace(" ~ mailto ~ ", '^([^()]*@[^()]*[^() ]) *\\([^()]*\\)$', '\\1')" -%}
  {%- set wrapped = "trim(regexp_replace(" ~ comment
      ~ ", " ~ dbt.string_literal(dbt.escape_single_quotes(
          '^(?:"(.*)"|\'(.*)\'|\u201c(.*)\u201d|\u2018(.*)\u2019|\\((.*)\\)|\\[(.*)\\]|<(.*)>)$'))
      ~ ", '\\1\\2\\3\\4\\5\\6\\7'))" -%}
  {%- set edges = "regexp_replace(regexp_replace(" ~ wrapped ~ ", '^[ <]+', ''), '[ .,;:!?>]+$', '')" -%}
  {{- return("nullif(" ~ edges ~ ", '')") -}}
{% endmacro %}
