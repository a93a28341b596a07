{# Latest delivery of each key wins; lineage columns stay for debugging except the batch id. #}
{% macro latest_by_key(relation, keys) %}
  (
    select * exclude (_batch_id)
    from {{ relation }}
    qualify row_number() over (
      partition by {{ keys | join(', ') }}
      order by _ingested_at desc, _source_file desc, _source_line desc
    ) = 1
  )
{% endmacro %}
