-- The schema's version, for GET /v1/version: the newest migration applied,
-- as sql/migrate.sh records it in schema_migrations.
set role hotline_owner;
set search_path = hotline, pg_temp;

create function schema_version()
returns text language sql stable security definer
set search_path = hotline, pg_temp as $$
	select max(version) from schema_migrations
$$;

comment on function schema_version() is 'API GET /v1/version: the newest migration applied (sql/migrate.sh records each one).';

revoke execute on function schema_version() from public;
grant execute on function schema_version() to hotlined;

reset role;
