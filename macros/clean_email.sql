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

  The steps are written once (_internal/_clean_email_sql.sql) for the regex engines of DuckDB (RE2),
  PostgreSQL (ARE) and Spark/Databricks (java.util.regex): the patterns use only what all of them read the
  same way (anchors, bracket expressions, greedy quantifiers, (?:) groups) and 3-argument regexp_replace;
  odd characters reach the SQL as literal UTF-8 in string literals. What differs is spelled per adapter:
  a group in a replacement (\1 on DuckDB and PostgreSQL, $1 in Java) and the string-literal syntax
  (_sql_string: Spark literals treat a backslash as an escape and drop unknown ones).
  Lower-casing non-ASCII letters on PostgreSQL follows the database's LC_CTYPE (use a UTF-8 locale).
  Every run checks the adapter's output on canary inputs first (dbt_hubspot_sync/checks/canary.py): an adapter
  whose SQL differs refuses to run instead of rewriting emails wrongly.
-#}
{% macro clean_email(expr) %}
  {{- return(adapter.dispatch('clean_email', 'dbt_hubspot_sync')(expr)) -}}
{% endmacro %}

{% macro default__clean_email(expr) %}
  {{- return(dbt_hubspot_sync._clean_email_sql(expr, '\\')) -}}
{% endmacro %}

{#- Spark and Databricks: java.util.regex replacements name groups $1..$7. -#}
{% macro spark__clean_email(expr) %}
  {{- return(dbt_hubspot_sync._clean_email_sql(expr, '$')) -}}
{% endmacro %}
