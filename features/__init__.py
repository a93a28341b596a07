"""Feature mart: one declarative catalog (catalog.yaml) -> generated dbt SQL + documentation -> thousands of
point-in-time features per (customer, observation time). See features/README.md."""
