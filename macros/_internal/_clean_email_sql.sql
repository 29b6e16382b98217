{#- _clean_email_sql(expr, group): the clean_email expression (its steps are documented in clean_email.sql) with
    string literals in the adapter's syntax (_sql_string) and `group` before a group number in a replacement
    ('\\' for \1, '$' for $1). -#}
{% macro _clean_email_sql(expr, group) %}
  {%- set lit = dbt_hubspot_sync._sql_string -%}
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
  {%- set first = lit(group ~ '1') -%}
  {#- translate() costs far more than a regex in some engines (DuckDB: ~10 µs a row): a value of printable ASCII
      only, which it would leave as it is, skips it. -#}
  {%- set translated = "case when regexp_replace(" ~ expr ~ ", " ~ lit('^[ -~]*$') ~ ", '') = '' then " ~ expr
      ~ " else translate(" ~ expr ~ ", " ~ lit(from_chars) ~ ", " ~ lit(to_chars) ~ ") end" -%}
  {%- set folded = "lower(trim(" ~ translated ~ "))" -%}
  {%- set display_name = "trim(regexp_replace(" ~ folded ~ ", " ~ lit('^[^<>]*<([^<>]*)>[ .,;:]*$') ~ ", " ~ first ~ "))" -%}
  {%- set mailto = "regexp_replace(" ~ display_name ~ ", " ~ lit('^mailto: *([^?]*).*$') ~ ", " ~ first ~ ")" -%}
  {%- set comment = "regexp_replace(" ~ mailto ~ ", " ~ lit('^([^()]*@[^()]*[^() ]) *\\([^()]*\\)$') ~ ", " ~ first ~ ")" -%}
  {%- set wrapped = "trim(regexp_replace(" ~ comment ~ ", "
      ~ lit('^(?:"(.*)"|\'(.*)\'|\u201c(.*)\u201d|\u2018(.*)\u2019|\\((.*)\\)|\\[(.*)\\]|<(.*)>)$') ~ ", "
      ~ lit(group ~ '1' ~ group ~ '2' ~ group ~ '3' ~ group ~ '4' ~ group ~ '5' ~ group ~ '6' ~ group ~ '7') ~ "))" -%}
  {%- set edges = "regexp_replace(regexp_replace(" ~ wrapped ~ ", " ~ lit('^[ <]+') ~ ", ''), "
      ~ lit('[ .,;:!?>]+$') ~ ", '')" -%}
  {#- A plain address (ASCII letters, digits and . _ + - around one @, ending in a letter) passes every step
      above unchanged but lower(): that alone, without the regexes, for most rows of a real model. -#}
  {%- set plain = lit('^[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+[.][A-Za-z]+$') -%}
  {{- return("case when " ~ expr ~ " <> '' and regexp_replace(" ~ expr ~ ", " ~ plain ~ ", '') = '' then lower(" ~ expr
             ~ ") else nullif(" ~ edges ~ ", '') end") -}}
{% endmacro %}
