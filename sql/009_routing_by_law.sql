-- Routing that follows the law (domain.md, "Default routing"; the 2020
-- opinion on mandatory reporting).
--
--   * Every mandatory report reaches the police of the child's county as the
--     primary assignee, whatever its categories: reports go "straight to
--     public security" (opinion art. 8).  A child beaten into disability
--     (situation 5) reaches the police as well as the crisis team.
--   * The reporting institution's sector department is informed of every
--     report, by the institution's type and in the institution's region:
--     schools and kindergartens the education bureau; nurseries for the
--     under-threes (托育), hospitals and clinics the health commission;
--     welfare bodies civil affairs.
--   * Bullying goes to the education bureau of the school's county (the
--     institution's region when the report names one), with the police and
--     the supervising procuratorate of that county at risk 1-2.
--   * A report may name which of the categories its situations carry
--     (situation 4: abuse or bullying; situation 5: self-harm, suicide, a
--     beating, ...); a situation it names none for keeps its default.
--   * A case no agency serves goes to the coordination office, and where no
--     coordination office is above its region, to the configured default
--     office: a committed case always has an assignment.
--
-- Rules are data: a rule now says for which source (a report, a call, or
-- either) it holds, and whether its agency is found from the child's
-- region or the reporting institution's.
set role hotline_owner;
set search_path = hotline, pg_temp;

alter table routing_rules alter column category drop not null;
alter table routing_rules add column source text check (source in ('call', 'report'));
alter table routing_rules add column region_of text not null default 'child'
    check (region_of in ('child', 'institution'));
alter table routing_rules add constraint routing_rules_any_category
    check (category is not null or subcategory is null);
comment on column routing_rules.category is 'The category a rule holds for; null: every case of its source, whatever its categories.';
comment on column routing_rules.source is 'The source a rule holds for: report (mandatory reports), call, or null for both.';
comment on column routing_rules.region_of is 'Whose region finds the agency and matches region_prefix: the child''s county (child) or the reporting institution''s (institution; the child''s when the report names none).';

-- The categories a reporter may name for a situation besides its default
-- (situations.category and subcategory).
create table situation_categories (
	situation	smallint not null references situations (situation),
	category	text not null,
	subcategory	text not null,
	primary key (situation, category, subcategory),
	foreign key (category, subcategory) references subcategories (category, code)
);
comment on table situation_categories is 'The categories a mandatory report may name for a statutory situation instead of its default one (situation 4: abuse or bullying, ...).';

insert into situation_categories (situation, category, subcategory) values
	(1, 'bullying', 'sexual_harassment'),
	(4, 'abuse', 'domestic_violence'),
	(4, 'bullying', 'physical'),
	(4, 'bullying', 'extortion'),
	(5, 'psychological', 'suicidal'),
	(5, 'abuse', 'physical_abuse'),
	(5, 'abuse', 'domestic_violence'),
	(5, 'abuse', 'exploitation'),
	(5, 'bullying', 'physical'),
	(9, 'abuse', 'sexual_abuse'),
	(9, 'abuse', 'physical_abuse'),
	(9, 'abuse', 'domestic_violence'),
	(9, 'abuse', 'neglect'),
	(9, 'abuse', 'trafficking_missing'),
	(9, 'abuse', 'exploitation'),
	(9, 'bullying', 'physical'),
	(9, 'psychological', 'crisis_trauma');

-- The office of last resort: no case is committed without an assignment.
insert into settings (name, value) values ('default_office', '');

-- The sector department of the reporting institution is informed of every
-- mandatory report, not only of abuse, in the institution's region; a
-- nursery (托育, under three) is health's, not education's.
delete from routing_rules where category = 'abuse' and subcategory is null and role = 'inform'
    and institution_types is not null and agency_kind in ('education', 'health', 'civil_affairs');
-- Bullying: the school's county.
update routing_rules set region_of = 'institution' where category = 'bullying';
insert into routing_rules (category, subcategory, risk_min, risk_max, source, region_of,
    institution_types, agency_kind, role, note) values
	(null, null, 1, 4, 'report', 'child', null, 'police', 'primary',
	    '强制报告: 直接报公安, 儿童所在县级公安机关 (强制报告意见第8条)'),
	(null, null, 1, 4, 'report', 'institution', '{school,kindergarten}', 'education', 'inform',
	    '报告单位主管部门: 学校、幼儿园 -> 教育'),
	(null, null, 1, 4, 'report', 'institution', '{nursery,hospital,clinic}', 'health', 'inform',
	    '报告单位主管部门: 托育机构、医院、诊所 -> 卫生健康'),
	(null, null, 1, 4, 'report', 'institution', '{welfare_institution,social_work_agency}',
	    'civil_affairs', 'inform', '报告单位主管部门: 福利机构、社工机构 -> 民政');

-- The coordination office for a region: the region's own or its nearest
-- ancestor's, else the default office of the settings (null if none is set).
create function office_for(p_region text)
returns bigint language sql stable as $$
	select coalesce(agency_for('coordination', p_region),
	    (select g.id from agencies g where g.code = (select s.value from settings s
		where s.name = 'default_office')))
$$;

-- Routing as a pure function of a case's facts and the rule tables: the
-- agencies and roles it must reach.  A rule finds its agency from the
-- child's region or the reporting institution's (the child's when there is
-- none); a case no rule serves goes to the coordination office (or the
-- default office); an agency reached in several roles keeps the strongest
-- (primary > supervise > inform).
create function route_targets(p_source text, p_categories jsonb, p_risk smallint,
    p_region text, p_institution_type text, p_institution_region text)
returns table (agency_id bigint, role text, rule_id integer)
language sql stable as $$
	with rules as (
		select r.id, r.agency_kind, r.role, r.region_prefix, case r.region_of
		    when 'institution' then coalesce(p_institution_region, p_region)
		    else p_region end as region
		from routing_rules r
		where p_risk between r.risk_min and r.risk_max
		    and (r.source is null or r.source = p_source)
		    and (r.institution_types is null or p_institution_type = any (r.institution_types))
		    and (r.category is null or exists (select 1
			from jsonb_array_elements(p_categories) c
			where c->>'category' = r.category
			    and (r.subcategory is null or r.subcategory = c->>'subcategory')))),
	found as materialized (
		select agency_for(m.agency_kind, m.region) as agency_id, m.role, m.id
		from rules m where m.region like m.region_prefix || '%'),
	targets as (
		select * from found
		union all
		select office_for(p_region), 'primary', null
		where not exists (select 1 from found f where f.agency_id is not null)),
	ranked as (
		select t.*, row_number() over (partition by t.agency_id order by
		    case t.role when 'primary' then 1 when 'supervise' then 2 else 3 end, t.id) as n
		from targets t where t.agency_id is not null)
	select agency_id, role, id from ranked where n = 1
$$;

-- Whether one of these situations may carry a category: its default, or
-- one of situation_categories.
create function situation_allows(p_situations smallint[], p_category text, p_subcategory text)
returns boolean language sql stable as $$
	select exists (select 1 from situations s where s.situation = any (p_situations)
		and s.category = p_category and s.subcategory = p_subcategory)
	    or exists (select 1 from situation_categories s where s.situation = any (p_situations)
		and s.category = p_category and s.subcategory = p_subcategory)
$$;

-- A report's categories: those it names (each one a situation of it may
-- carry), and the default of every situation it names none for.
create function report_categories(p_situations smallint[], p_named jsonb)
returns jsonb language sql stable as $$
	with named as (
		select distinct e->>'category' as category, e->>'subcategory' as subcategory
		from jsonb_array_elements(coalesce(p_named, '[]')) e),
	allowed as (
		select s.situation, s.category, s.subcategory from situations s
		where s.situation = any (p_situations)
		union
		select s.situation, s.category, s.subcategory from situation_categories s
		where s.situation = any (p_situations)),
	chosen as (
		select a.category, a.subcategory from allowed a join named n using (category, subcategory)
		union
		select s.category, s.subcategory from situations s
		where s.situation = any (p_situations) and not exists (select 1
		    from allowed a join named n using (category, subcategory)
		    where a.situation = s.situation))
	select jsonb_agg(jsonb_build_object('category', category, 'subcategory', subcategory)
	    order by category, subcategory)
	from chosen
$$;

-- Route a new case: every agency it needs, each with its own clocks.  A
-- report's institution (type and region) comes from its row.  Raises if not
-- even a default office serves the case: it must not be committed unrouted.
create or replace function case_route(p_case_id bigint, p_institution_type text, p_actor bigint)
returns void language plpgsql as $$
declare
	c cases%rowtype;
	r reports%rowtype;
	p record;
	v_cats jsonb;
	v_n integer := 0;
begin
	select * into c from cases where id = p_case_id;
	select * into r from reports where case_id = p_case_id;
	select jsonb_agg(jsonb_build_object('category', category, 'subcategory', subcategory))
	    into v_cats from case_categories where case_id = p_case_id;
	for p in select * from route_targets(c.source, v_cats, c.risk_level, c.region_code,
	    coalesce(r.institution_type, p_institution_type), r.institution_region)
	    order by role, agency_id loop
		perform assignment_create(p_case_id, p.agency_id, p.role, 0, null, null, p_actor);
		v_n := v_n + 1;
	end loop;
	if v_n = 0 then
		raise exception 'case_route: no agency serves the case''s region and no default office is set'
		    using errcode = 'object_not_in_prerequisite_state';
	end if;
end $$;

-- The next agency up an escalation chain: the parent agency, then the
-- coordination office (or the default office), then the procuratorate's
-- supervision queue.
create or replace function escalation_target(p_agency bigint, out agency_id bigint, out role text)
language plpgsql stable as $$
declare
	a agencies%rowtype;
begin
	select * into a from agencies where id = p_agency;
	if a.parent_id is not null then
		agency_id := a.parent_id;
		role := 'primary';
	elsif a.kind not in ('coordination', 'procuratorate') then
		agency_id := office_for(a.region_code);
		role := 'primary';
	elsif a.kind = 'coordination' then
		agency_id := agency_for('procuratorate', a.region_code);
		role := 'supervise';
	end if;
end $$;

-- POST /v1/reports: store a mandatory report as a new case.  Its categories
-- are those its situations carry: the ones it names ("categories", each one
-- a situation of the report may carry) and the default of the others.
create or replace function intake_report(p_client_id bigint, p_idem_key text,
    p_request_hash bytea, p_body jsonb)
returns table (status integer, code text, response jsonb, replayed boolean)
language plpgsql security definer set search_path = hotline, pg_temp as $$
declare
	m record;
	v_sits smallint[];
	v_risk smallint;
	v_cats jsonb;
	v_case record;
	v_receipt text;
begin
	select * into m from mutation_begin(p_client_id, '{gateway}', p_idem_key, 'reports', null,
	    p_request_hash);
	if m.status is not null then
		return query select m.status, m.code, m.response, m.replayed;
		return;
	end if;
	return query select c.*, false
	    from (values (1, p_body#>>'{institution,region_code}', 'institution.region_code'),
		(2, p_body#>>'{child,region_code}', 'child.region_code')) x (n, region, field)
	    cross join lateral check_region(x.region, x.field) c
	    where c.status is not null order by x.n limit 1;
	if found then
		return;
	end if;
	select array_agg(x::smallint order by x::smallint) into v_sits
	    from jsonb_array_elements_text(p_body->'situations') x;
	return query select c.*, false
	    from jsonb_array_elements(coalesce(p_body->'categories', '[]')) with ordinality e (value, n)
	    cross join lateral check_category(e.value->>'category', e.value->>'subcategory',
		format('categories[%s].', e.n - 1)) c
	    where c.status is not null order by e.n limit 1;
	if found then
		return;
	end if;
	return query select f.*, false
	    from jsonb_array_elements(coalesce(p_body->'categories', '[]')) with ordinality e (value, n)
	    cross join lateral api_fail(422, 'category_not_allowed', format('categories[%s]', e.n - 1),
		'none of the report''s situations may carry this category') f
	    where not situation_allows(v_sits, e.value->>'category', e.value->>'subcategory')
	    order by e.n limit 1;
	if found then
		return;
	end if;
	select case when (p_body->>'immediate_danger')::boolean then 1 else min(s.min_risk) end
	    into v_risk from situations s where s.situation = any (v_sits);
	v_cats := report_categories(v_sits, p_body->'categories');
	v_receipt := receipt_new();
	select * into v_case from case_create('report', p_body#>>'{child,region_code}', v_risk,
	    p_client_id, p_body->>'narrative', p_body->'child', v_cats, p_body->'$key');
	insert into reports (case_id, client_id, receipt_id, reporter_name, reporter_phone,
	    reporter_id_number, reporter_profession, institution_name, institution_type,
	    institution_region, situations, suspected, discovered_at, reported_at,
	    immediate_danger, actions_taken)
	values (v_case.case_id, p_client_id, v_receipt, sealed_in(p_body#>>'{reporter,name}'),
	    sealed_in(p_body#>>'{reporter,phone}'), sealed_in(p_body#>>'{reporter,id_number}'),
	    p_body#>>'{reporter,profession}', sealed_in(p_body#>>'{institution,name}'),
	    p_body#>>'{institution,type}', p_body#>>'{institution,region_code}', v_sits,
	    (p_body->>'suspected')::boolean, (p_body->>'discovered_at')::timestamptz,
	    (p_body->>'reported_at')::timestamptz, (p_body->>'immediate_danger')::boolean,
	    sealed_in(p_body->>'actions_taken'));
	-- Routing runs in this same transaction.
	perform case_route(v_case.case_id, p_body#>>'{institution,type}', p_client_id);
	perform identifiers_record(v_case.case_id, null, p_body->'$digests');
	return query select * from mutation_store(p_client_id, p_idem_key, m.endpoint,
	    p_request_hash, 201, jsonb_build_object('case_number', v_case.case_number,
	    'receipt_id', v_receipt, 'risk_level', v_risk, 'received_at', api_ts(now())));
end $$;

-- route_targets replaces it (the source and the institution's region).
drop function route_plan(jsonb, smallint, text, text);

comment on function office_for(text) is 'The coordination office for a region (its own or its nearest ancestor''s), else the default office of the settings; null if neither.';
comment on function route_targets(text, jsonb, smallint, text, text, text) is 'Routing as a pure function of a case''s facts (source, categories, risk, child''s region, institution type and region) and the rule tables: the agencies and roles it must reach.';
comment on function situation_allows(smallint[], text, text) is 'Whether one of these statutory situations may carry a category (its default or one of situation_categories).';
comment on function report_categories(smallint[], jsonb) is 'A report''s categories: those it names, and the default of each situation it names none for.';
comment on function case_route(bigint, text, bigint) is 'Routes a new case: one assignment per agency of route_targets (a report''s institution from its row); raises rather than leave a case unrouted.';
comment on function escalation_target(bigint) is 'The next agency up an escalation chain: parent, coordination office (or the default office), then the procuratorate''s supervision.';
comment on function intake_report(bigint, text, bytea, jsonb) is 'API POST /v1/reports: stores a mandatory report as a new case (its categories from its situations and those it names); returns (status, code, response, replayed), never raises for expected errors.';

revoke execute on all functions in schema hotline from public;

reset role;
