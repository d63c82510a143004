/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every governance.* setting, its validation, and the transaction seal.
 *
 * Longer than our other files on purpose: every setting is defined here, in
 * one place (settings of the preloaded mode too; their consumers read the
 * variables), and the seal is the state the context settings' check and
 * assign hooks guard, so the two are not split.
 *
 * The context values (agent_id, tenant_id, correlation_id) are USERSET
 * settings so that parallel workers copy them and SHOW / current_setting()
 * can read them, but only governance.set_context() and set_context_signed()
 * can give them a value (docs/security.md):
 *
 *	- the check hook accepts a non-empty value only while gov_set_context()
 *	  or gov_seal_resync() is assigning it (context_writer below), always
 *	  with GUC_ACTION_LOCAL, so a context never outlives its transaction;
 *	- every other route is refused with SQLSTATE 42501 when the library is
 *	  loaded (SET, SET LOCAL, SET SESSION, set_config(), UPDATE pg_settings,
 *	  function SET clauses, ALTER ROLE / DATABASE / SYSTEM ... SET, and, in
 *	  the preloaded mode, connection options: FATAL at connection start);
 *	  values given before the library is loaded (plain mode: connection
 *	  options, stored role and database settings, a SET) are placeholders
 *	  that PostgreSQL re-checks here when the library loads: reported with
 *	  a WARNING and discarded before any governance code reads them;
 *	- the empty value (clearing) is allowed unless the context is sealed;
 *	- parallel workers copy the leader's values while InitializingParallelWorker.
 *
 * So with governance.require_signed on, which set_context() enforces, agent
 * and tenant can only come from a verified token.
 *
 * Sealing.  governance.set_context(..., seal => true) records the values it
 * set in `seal` below.  From then until the top-level transaction ends:
 *
 *	- the sealed copy is authoritative: gov_context_value(), the SQL
 *	  accessors and SHOW / current_setting() / pg_settings (through show
 *	  hooks) report it, whatever happens to the raw setting;
 *	- every way SQL has of changing the setting is refused with SQLSTATE
 *	  42501: an explicit new value fails the check hook (SET, SET LOCAL,
 *	  SET SESSION, set_config(), function SET clauses, ...); RESET, SET TO
 *	  DEFAULT, RESET ALL and DISCARD are refused by the utility hook before
 *	  they run; a reset that reaches no hook but the assign hook
 *	  (set_config(name, NULL, ...)) is refused there;
 *	- the raw settings are not written when the context is sealed: the
 *	  only readers of the raw values, parallel workers, get the sealed ones
 *	  written (GUC_ACTION_LOCAL) before a plan or utility command that may
 *	  start them (gov_seal_resync), so a sealed context costs no setting
 *	  change in the common case;
 *	- a subtransaction abort that rolls the raw setting back (ROLLBACK TO a
 *	  savepoint taken before the seal, a PL/pgSQL exception block) does not
 *	  end the seal: the sealed values are written back the same way.
 *
 * COMMIT, ROLLBACK and PREPARE end the seal (transaction callback); values
 * written were set with GUC_ACTION_LOCAL, so PostgreSQL's own
 * end-of-transaction processing restores the previous settings.
 *
 * Memory: sealed values live in per-backend static buffers (seal_buf), one
 * per field, reused by every seal.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "governance.h"

/*---- Setting variables ----*/
char	   *gov_agent_id = NULL;
char	   *gov_tenant_id = NULL;
char	   *gov_correlation_id = NULL;
int			gov_require_context = GOV_REQUIRE_OFF;
char	   *gov_signing_key = NULL;
char	   *gov_signing_key_id = NULL;
char	   *gov_signing_key_previous = NULL;
char	   *gov_signing_key_previous_id = NULL;
int			gov_token_max_lifetime = 3600;
bool		gov_require_signed = false;
bool		gov_denied_log_worker = true;
int			gov_denied_rate_limit = 10;
int			gov_denied_role_limit = 60;
int			gov_session_context_bytes = 256;
int			gov_max_agents = 1000;
bool		gov_track_latency = true;
int			gov_denied_queue_slots = 64;

static const struct config_enum_entry require_context_options[] = {
	{"off", GOV_REQUIRE_OFF, false},
	{"warn", GOV_REQUIRE_WARN, false},
	{"enforce", GOV_REQUIRE_ENFORCE, false},
	{NULL, 0, false}
};

/* Per-field facts, indexed by GovField. */
static const char *const field_setting_names[GOV_NUM_FIELDS] = {
	"governance.agent_id",
	"governance.tenant_id",
	"governance.correlation_id"
};

static char **const field_variables[GOV_NUM_FIELDS] = {
	&gov_agent_id,
	&gov_tenant_id,
	&gov_correlation_id
};

/* Told of every change of a context value (gov_context_listen). */
#define MAX_CONTEXT_LISTENERS	4
static GovContextListener context_listeners[MAX_CONTEXT_LISTENERS];
static int	ncontext_listeners = 0;

/*---- Seal state (one per backend; only the top-level transaction) ----*/
typedef struct GovSeal
{
	bool		sealed;
	bool		is_signed;
	bool		need_resync;	/* the raw settings may differ from the seal:
								 * not written yet, or reverted by a subxact
								 * abort */
	bool		resyncing;		/* gov_seal_resync is writing the settings */
	char	   *values[GOV_NUM_FIELDS]; /* "" for unset; point into seal_buf */
} GovSeal;

static GovSeal seal;

/*
 * The sealed values' storage, one buffer per field for the backend's life:
 * a seal per transaction costs no allocation.  A validated value has at
 * most GOV_MAX_ID_CHARS characters of at most MAX_MULTIBYTE_CHAR_LEN bytes.
 */
static char seal_buf[GOV_NUM_FIELDS][GOV_MAX_ID_CHARS * MAX_MULTIBYTE_CHAR_LEN + 1];
static bool callbacks_registered = false;

/*
 * True only while gov_set_context() or gov_seal_resync() assigns the context
 * settings: the check hook accepts a non-empty value only then.  Set and
 * cleared around set_config_option() calls that run no user code.
 */
static bool context_writer = false;

/*
 * While context_writer is set: the values gov_set_context() has just
 * validated (or the sealed ones gov_seal_resync() writes back), which the
 * check hook then need not validate a second time.  NULL otherwise.
 */
static const char *context_validated[GOV_NUM_FIELDS];

/*---- Function declarations ----*/
static bool check_context_value(GovField field, char **newval);
static bool check_agent_id(char **newval, void **extra, GucSource source);
static bool check_tenant_id(char **newval, void **extra, GucSource source);
static bool check_correlation_id(char **newval, void **extra, GucSource source);
static void assign_context_value(GovField field, const char *newval);
static void tell_listeners(GovField field, const char *value);
static void assign_agent_id(const char *newval, void *extra);
static void assign_tenant_id(const char *newval, void *extra);
static void assign_correlation_id(const char *newval, void *extra);
static const char *raw_setting(GovField field);
static const char *show_agent_id(void);
static const char *show_tenant_id(void);
static const char *show_correlation_id(void);
static bool check_key(const char *setting, const char *value);
static bool check_signing_key(char **newval, void **extra, GucSource source);
static bool check_signing_key_previous(char **newval, void **extra, GucSource source);
static bool check_key_id(char **newval, void **extra, GucSource source);
static const char *show_signing_key(void);
static const char *show_signing_key_previous(void);
static void gov_define_preload_settings(void);
static void unseal(void);
static void seal_xact_callback(XactEvent event, void *arg);
static void seal_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);
static void report_sealed(const char *setting) pg_attribute_noreturn();
static void report_sealed_command(const char *command) pg_attribute_noreturn();

/*
 * Define every setting.  Called once per backend from _PG_init.  Values
 * that were set (as placeholders) before the library was loaded go through
 * the check hooks here: an invalid one is reported and discarded by
 * PostgreSQL, so nothing unvalidated survives the load.
 */
void
gov_define_settings(void)
{
	/*
	 * The acting agent or user.  Applications set it per transaction through
	 * governance.set_context(); RLS policies and the audit trail read it.
	 */
	DefineCustomStringVariable("governance.agent_id",
							   "Acting agent or user of the current transaction.",
							   "Set only by governance.set_context() or set_context_signed(), transaction-locally. "
							   "At most 256 characters, no control characters.",
							   &gov_agent_id,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_agent_id, assign_agent_id, show_agent_id);

	/* The tenant the agent acts for; same rules as agent_id. */
	DefineCustomStringVariable("governance.tenant_id",
							   "Tenant of the current transaction.",
							   "Set only by governance.set_context() or set_context_signed(), transaction-locally. "
							   "At most 256 characters, no control characters.",
							   &gov_tenant_id,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_tenant_id, assign_tenant_id, show_tenant_id);

	/* The request id that ties log lines, audit rows and traces together. */
	DefineCustomStringVariable("governance.correlation_id",
							   "Request or trace id of the current transaction.",
							   "Set only by governance.set_context() or set_context_signed(), transaction-locally. "
							   "At most 128 characters of A-Z a-z 0-9 . _ : -",
							   &gov_correlation_id,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_correlation_id, assign_correlation_id,
							   show_correlation_id);

	/*
	 * What happens when a governed table is touched with no agent_id.  An
	 * administrator starts with "warn" to find callers that forget the
	 * context, then moves to "enforce".  Grantable per role with GRANT SET
	 * ON PARAMETER.
	 */
	DefineCustomEnumVariable("governance.require_context",
							 "Action when a governed table is used without governance.agent_id.",
							 "off allows it; warn allows it with a WARNING and a denied_log record; "
							 "enforce refuses it.",
							 &gov_require_context,
							 GOV_REQUIRE_OFF,
							 require_context_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Key for governance.set_context_signed().  Set it where only the
	 * superuser can read it (postgresql.conf or ALTER SYSTEM), never with
	 * ALTER DATABASE/ROLE, whose settings every role can read.  Shown as
	 * ******** to everybody.
	 */
	DefineCustomStringVariable("governance.signing_key",
							   "HMAC-SHA256 key that signed governance contexts are verified with.",
							   "At least 32 bytes. Never shown.",
							   &gov_signing_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_signing_key, NULL, show_signing_key);

	/*
	 * Key rotation: tokens are verified under signing_key, then under
	 * signing_key_previous.  To rotate, move the current key (and its id)
	 * to the _previous settings and set the new one; once no token signed
	 * with the old key can still be unexpired (token_max_lifetime), clear
	 * the _previous settings.  A token's "kid" claim, when present, must
	 * name the id of the key that verified it.
	 */
	DefineCustomStringVariable("governance.signing_key_id",
							   "Key id (the tokens' kid claim) of governance.signing_key.",
							   "At most 64 characters of A-Z a-z 0-9 . _ : -; empty: tokens with a kid are refused.",
							   &gov_signing_key_id,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE,
							   check_key_id, NULL, NULL);
	DefineCustomStringVariable("governance.signing_key_previous",
							   "Previous HMAC-SHA256 key, still accepted while tokens signed with it may be in use.",
							   "At least 32 bytes. Never shown.",
							   &gov_signing_key_previous,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_signing_key_previous, NULL, show_signing_key_previous);
	DefineCustomStringVariable("governance.signing_key_previous_id",
							   "Key id (the tokens' kid claim) of governance.signing_key_previous.",
							   "At most 64 characters of A-Z a-z 0-9 . _ : -",
							   &gov_signing_key_previous_id,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE,
							   check_key_id, NULL, NULL);

	/*
	 * How far ahead a token's exp may lie.  A token is a bearer credential
	 * until it expires, so services mint one per request with a short exp;
	 * this refuses long-lived ones whoever minted them.
	 */
	DefineCustomIntVariable("governance.token_max_lifetime",
							"Longest a signed-context token may live: how far ahead its exp may lie.",
							"Tokens whose exp is further ahead are refused.",
							&gov_token_max_lifetime,
							3600, 1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	/*
	 * Refuse plain set_context(): only contexts signed by a service that
	 * holds the key are accepted.  Turn it on once every caller mints tokens.
	 */
	DefineCustomBoolVariable("governance.require_signed",
							 "Refuse unsigned governance.set_context().",
							 NULL,
							 &gov_require_signed,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * Preloaded mode: hand denied attempts to the background writer.  Off,
	 * the denied backend writes them itself, as without preload.
	 */
	DefineCustomBoolVariable("governance.denied_log_worker",
							 "Let the background writer store denied attempts (preloaded mode).",
							 "Off: the denied backend stores them at its next statement or at exit, as without preload.",
							 &gov_denied_log_worker,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * How many denied attempts one session may record per second (a token
	 * bucket holding one second's worth).  Attempts over it are counted,
	 * not recorded one by one: a summary row (action 'suppressed') carries
	 * their number.  Lower it where app roles are untrusted and denied_log
	 * must stay small; raise it to keep every attempt of a noisy but
	 * trusted workload.  Superuser only (a role must not lift its own).
	 */
	DefineCustomIntVariable("governance.denied_log_rate_limit",
							"Denied attempts one session records per second in denied_log.",
							"Attempts over the limit are counted in a summary row (action 'suppressed').",
							&gov_denied_rate_limit,
							10, 1, 100000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	/*
	 * How many denied_log rows one role (the session user) may add per
	 * minute, all its sessions together: the per-session rate limit alone
	 * lets a role that opens N sessions add N times as many rows, enough to
	 * bury a real attempt or fill the disk.  Attempts over it are counted
	 * in the session's summary row like those over the per-session limit;
	 * that row is written when the role has room again, at the latest when
	 * the session ends.  Raise it for a role whose many refusals are all
	 * worth a row; 0 turns the per-role bound off.  Superusers are not
	 * bound (they could change it).  Superuser only.
	 */
	DefineCustomIntVariable("governance.denied_log_role_limit",
							"Denied attempts one role records per minute in denied_log, all its sessions together.",
							"Attempts over the limit are counted in a summary row (action 'suppressed'); 0 disables the limit.",
							&gov_denied_role_limit,
							60, 0, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	if (gov_preloaded)
		gov_define_preload_settings();

	MarkGUCPrefixReserved("governance");
}

/*
 * Settings of the preloaded mode.  Sizes of shared memory are fixed at
 * server start; PostgreSQL accepts such (PGC_POSTMASTER) settings only
 * while shared_preload_libraries is being processed.
 */
static void
gov_define_preload_settings(void)
{
	DefineCustomIntVariable("governance.session_context_bytes",
							"Bytes of each context value kept per backend for governance.session_context.",
							"Longer values are cut at a character boundary and flagged truncated.",
							&gov_session_context_bytes,
							256, 32, 1024,
							PGC_POSTMASTER,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("governance.max_agents",
							"Agent and tenant pairs with their own latency histogram.",
							"Statements of further pairs are counted in one overflow entry per database.",
							&gov_max_agents,
							1000, 10, 100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("governance.track_latency",
							 "Collect per-agent statement latency histograms (preloaded mode).",
							 NULL,
							 &gov_track_latency,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("governance.denied_queue_slots",
							"Denied attempts that can wait in shared memory for the background writer.",
							"When all are in use, a backend keeps its records and writes them itself.",
							&gov_denied_queue_slots,
							64, 8, 8192,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

/*
 * Register a function told of every change of a context value, with the
 * effective value (the sealed one while sealed).  Called from _PG_init,
 * before gov_define_settings, so that no change goes untold.
 */
void
gov_context_listen(GovContextListener listener)
{
	if (ncontext_listeners >= MAX_CONTEXT_LISTENERS)
		elog(ERROR, "too many governance context listeners");
	context_listeners[ncontext_listeners++] = listener;
}

/*---- Validation ----*/

const char *
gov_field_setting_name(GovField field)
{
	return field_setting_names[field];
}

/*
 * Validate one context value.  The empty string (unset) is always valid.
 * On failure *reason is a static, translatable phrase.
 */
bool
gov_validate_value(GovField field, const char *value, const char **reason)
{
	size_t		len = strlen(value);
	int			encoding;
	int			nchars;

	if (field == GOV_FIELD_CORRELATION)
	{
		for (const char *p = value; *p; p++)
		{
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
				  (*p >= '0' && *p <= '9') ||
				  *p == '.' || *p == '_' || *p == ':' || *p == '-'))
			{
				*reason = gettext_noop("only A-Z, a-z, 0-9, \".\", \"_\", \":\" and \"-\" are allowed");
				return false;
			}
		}
		if (len > GOV_MAX_CORRELATION_CHARS)
		{
			*reason = gettext_noop("longer than 128 characters");
			return false;
		}
		return true;
	}

	/*
	 * Values can arrive unverified (startup packet options, postgresql.conf),
	 * so check the encoding here.  SQL_ASCII databases get UTF-8 rules.
	 */
	encoding = GetDatabaseEncoding();
	if (encoding == PG_SQL_ASCII)
		encoding = PG_UTF8;
	if (!pg_verify_mbstr(encoding, value, len, true))
	{
		*reason = gettext_noop("not valid UTF-8");
		return false;
	}

	nchars = 0;
	for (const unsigned char *p = (const unsigned char *) value; *p;)
	{
		int			clen = pg_encoding_mblen(encoding, (const char *) p);

		/* C0 controls and DEL; in UTF-8 also the C1 controls U+0080..U+009F */
		if (*p < 0x20 || *p == 0x7f ||
			(encoding == PG_UTF8 && clen == 2 && p[0] == 0xc2 && p[1] <= 0x9f))
		{
			*reason = gettext_noop("contains a control character");
			return false;
		}
		p += clen;
		nchars++;
	}
	if (nchars > GOV_MAX_ID_CHARS)
	{
		*reason = gettext_noop("longer than 256 characters");
		return false;
	}
	return true;
}

/*
 * Common check hook of the three context settings: validate, and while the
 * transaction is sealed refuse any value other than the sealed one.
 */
static bool
check_context_value(GovField field, char **newval)
{
	const char *reason;

	if (*newval == NULL)
		return true;

	if (!(context_writer && context_validated[field] &&
		  strcmp(*newval, context_validated[field]) == 0) &&
		!gov_validate_value(field, *newval, &reason))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("invalid value for %s: %s",
						 field_setting_names[field], _(reason));
		return false;
	}

	if (seal.sealed && IsTransactionState() &&
		strcmp(*newval, seal.values[field]) != 0)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("governance context is sealed for this transaction");
		GUC_check_errdetail("%s cannot be changed until the transaction ends.",
							field_setting_names[field]);
		return false;
	}

	/*
	 * Only set_context() gives the context a value.  This runs for every
	 * route: SET in all its forms, set_config(), function SET clauses (at
	 * CREATE and at call), ALTER ROLE/DATABASE/SYSTEM (validated when
	 * stored, applied at connection start), connection options, and the
	 * placeholders PostgreSQL re-applies when the library loads.
	 */
	if ((*newval)[0] != '\0' && !context_writer && !InitializingParallelWorker)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("%s can only be set by governance.set_context()",
						 field_setting_names[field]);
		GUC_check_errdetail("The governance context is transaction-local and set only by "
							"governance.set_context() or governance.set_context_signed().");
		GUC_check_errhint("Call governance.set_context() or governance.set_context_signed() "
						  "in the transaction that needs the context.");
		return false;
	}
	return true;
}

static bool
check_agent_id(char **newval, void **extra, GucSource source)
{
	return check_context_value(GOV_FIELD_AGENT, newval);
}

static bool
check_tenant_id(char **newval, void **extra, GucSource source)
{
	return check_context_value(GOV_FIELD_TENANT, newval);
}

static bool
check_correlation_id(char **newval, void **extra, GucSource source)
{
	return check_context_value(GOV_FIELD_CORRELATION, newval);
}

/*
 * Assign hooks see every change of the setting, including the ones that
 * skip the check hook (a reset to the default through set_config(name,
 * NULL, ...)).  Only those can get here with a value other than the sealed
 * one while the transaction is running normally, so refusing here is the
 * last line of the seal.  PostgreSQL has pushed the old value already; the
 * error aborts the (sub)transaction, which restores it.  During commit and
 * abort processing IsTransactionState() is false and nothing is refused.
 */
static void
assign_context_value(GovField field, const char *newval)
{
	if (seal.sealed && !seal.resyncing && IsTransactionState() &&
		strcmp(newval ? newval : "", seal.values[field]) != 0)
		report_sealed(field_setting_names[field]);
	/* the listeners (session_context, latency) see the effective value */
	tell_listeners(field, seal.sealed ? seal.values[field] : newval);
}

/* Tell the listeners (gov_context_listen) the effective value of field. */
static void
tell_listeners(GovField field, const char *value)
{
	for (int i = 0; i < ncontext_listeners; i++)
		context_listeners[i] (field, value);
}

static void
assign_agent_id(const char *newval, void *extra)
{
	assign_context_value(GOV_FIELD_AGENT, newval);
}

static void
assign_tenant_id(const char *newval, void *extra)
{
	assign_context_value(GOV_FIELD_TENANT, newval);
}

static void
assign_correlation_id(const char *newval, void *extra)
{
	assign_context_value(GOV_FIELD_CORRELATION, newval);
}

/* The setting's own value ("" if none), whatever the seal says. */
static const char *
raw_setting(GovField field)
{
	return *field_variables[field] ? *field_variables[field] : "";
}

/* SHOW, current_setting() and pg_settings report the effective value. */
static const char *
show_field(GovField field)
{
	if (seal.sealed)
		return seal.values[field];
	return raw_setting(field);
}

static const char *
show_agent_id(void)
{
	return show_field(GOV_FIELD_AGENT);
}

static const char *
show_tenant_id(void)
{
	return show_field(GOV_FIELD_TENANT);
}

static const char *
show_correlation_id(void)
{
	return show_field(GOV_FIELD_CORRELATION);
}

static bool
check_key(const char *setting, const char *value)
{
	if (value && *value && strlen(value) < GOV_MIN_SIGNING_KEY_BYTES)
	{
		/* never echo the key itself */
		GUC_check_errmsg("%s is too short", setting);
		GUC_check_errdetail("The key must be at least %d bytes long.",
							GOV_MIN_SIGNING_KEY_BYTES);
		return false;
	}
	return true;
}

static bool
check_signing_key(char **newval, void **extra, GucSource source)
{
	return check_key("governance.signing_key", *newval);
}

static bool
check_signing_key_previous(char **newval, void **extra, GucSource source)
{
	return check_key("governance.signing_key_previous", *newval);
}

/* Key ids are names, not secrets: short, printable, safe in any message. */
static bool
check_key_id(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL)
		return true;
	if (strlen(*newval) > 64)
	{
		GUC_check_errmsg("a key id is at most 64 characters long");
		return false;
	}
	for (const char *p = *newval; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') ||
			  *p == '.' || *p == '_' || *p == ':' || *p == '-'))
		{
			GUC_check_errmsg("a key id may only contain A-Z, a-z, 0-9, \".\", \"_\", \":\" and \"-\"");
			return false;
		}
	}
	return true;
}

/* The keys are never shown, not even to superusers: they would end up in logs. */
static const char *
show_signing_key(void)
{
	return (gov_signing_key && *gov_signing_key) ? "********" : "";
}

static const char *
show_signing_key_previous(void)
{
	return (gov_signing_key_previous && *gov_signing_key_previous) ? "********" : "";
}

/*---- Reading the context ----*/

const char *
gov_context_value(GovField field)
{
	const char *v = seal.sealed ? seal.values[field] : *field_variables[field];

	return (v && *v) ? v : NULL;
}

bool
gov_context_sealed(void)
{
	return seal.sealed;
}

bool
gov_context_signed(void)
{
	return seal.sealed && seal.is_signed;
}

/*---- Setting and sealing ----*/

static void
report_sealed(const char *setting)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("governance context is sealed for this transaction"),
			 errdetail("%s cannot be changed until the transaction ends.",
					   setting)));
}

static void
report_sealed_command(const char *command)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("governance context is sealed for this transaction"),
			 errdetail("%s would clear it; it cannot be used until the transaction ends.",
					   command)));
}

/*
 * Set the three values transaction-locally and optionally seal them.
 * Validates everything before changing anything, so a bad value leaves the
 * previous context untouched.  NULL means unset.
 */
void
gov_set_context(const char *agent_id, const char *tenant_id,
				const char *correlation_id, bool do_seal, bool is_signed)
{
	const char *values[GOV_NUM_FIELDS];

	if (!IsTransactionState())
		elog(ERROR, "governance context can only be set inside a transaction");

	if (seal.sealed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("governance context is sealed for this transaction"),
				 errdetail("The context was already set and sealed in this transaction."),
				 errhint("Set the context once, at the start of the transaction.")));

	values[GOV_FIELD_AGENT] = agent_id ? agent_id : "";
	values[GOV_FIELD_TENANT] = tenant_id ? tenant_id : "";
	values[GOV_FIELD_CORRELATION] = correlation_id ? correlation_id : "";

	for (int f = 0; f < GOV_NUM_FIELDS; f++)
	{
		const char *reason;

		if (!gov_validate_value((GovField) f, values[f], &reason))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for %s: %s",
							field_setting_names[f], _(reason))));
	}

	if (do_seal)
	{
		/*
		 * Sealed: the sealed copy is the context (gov_context_value(), the
		 * show hooks); the raw settings are written only when something
		 * reads them, parallel workers (gov_seal_resync() before a parallel
		 * plan or utility command).  A governed one-statement transaction
		 * thus changes no setting at all: no setting lookups, no GUC stack
		 * entries, and PostgreSQL's end-of-transaction pass over every
		 * setting is skipped (about 10k instructions of 57k per govpool_run
		 * SELECT 1, scripts/context-callgrind.sh).
		 */
		if (!callbacks_registered)
		{
			RegisterXactCallback(seal_xact_callback, NULL);
			RegisterSubXactCallback(seal_subxact_callback, NULL);
			callbacks_registered = true;
		}
		for (int f = 0; f < GOV_NUM_FIELDS; f++)
			if (strlen(values[f]) >= sizeof(seal_buf[f]))
				elog(ERROR, "validated governance context value does not fit its seal");
		for (int f = 0; f < GOV_NUM_FIELDS; f++)
		{
			const char *raw = raw_setting((GovField) f);

			strlcpy(seal_buf[f], values[f], sizeof(seal_buf[f]));
			seal.values[f] = seal_buf[f];
			if (strcmp(raw, values[f]) != 0)
			{
				seal.need_resync = true;
				tell_listeners((GovField) f, values[f]);
			}
		}
		seal.is_signed = is_signed;
		seal.sealed = true;
		return;
	}

	context_writer = true;
	PG_TRY();
	{
		for (int f = 0; f < GOV_NUM_FIELDS; f++)
		{
			const char *raw = raw_setting((GovField) f);

			/*
			 * A value already in effect (an unset field, usually) needs no
			 * write: the transaction ends with it either way.  Each write
			 * costs a lookup of the setting by name and a GUC stack entry.
			 */
			if (strcmp(raw, values[f]) == 0)
				continue;
			context_validated[f] = values[f];
			(void) set_config_option(field_setting_names[f], values[f],
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
									 true, 0, false);
		}
	}
	PG_FINALLY();
	{
		context_writer = false;
		memset(context_validated, 0, sizeof(context_validated));
	}
	PG_END_TRY();
}

static void
unseal(void)
{
	if (!seal.sealed)
		return;
	seal.sealed = false;

	/*
	 * A sealed value never written to its setting (see gov_set_context())
	 * stops being the context here: the listeners learn the setting's value,
	 * which PostgreSQL's end-of-transaction processing, run after this
	 * callback, keeps or restores (and reports through the assign hook
	 * when it changes it).
	 */
	for (int f = 0; f < GOV_NUM_FIELDS; f++)
	{
		const char *raw = raw_setting((GovField) f);

		if (strcmp(raw, seal.values[f]) != 0)
			tell_listeners((GovField) f, raw);
	}
	seal.is_signed = false;
	seal.need_resync = false;
	for (int f = 0; f < GOV_NUM_FIELDS; f++)
		seal.values[f] = NULL;
}

static void
seal_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			unseal();
			break;
		default:
			break;
	}
}

/*
 * A subtransaction abort restores the settings it had on entry; if the seal
 * was made inside it, that undoes the sealed values in the raw settings.
 * The seal stays (it belongs to the top-level transaction); note that the
 * settings must be written back.
 */
static void
seal_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && seal.sealed)
		seal.need_resync = true;
}

/*
 * Write the sealed values back into the settings if a subtransaction abort
 * may have reverted them.  Called at the start of every statement (utility
 * and executor hooks) while the transaction is healthy.
 */
void
gov_seal_resync(void)
{
	if (!seal.sealed || !seal.need_resync)
		return;
	if (!IsTransactionState() || IsAbortedTransactionBlockState() || IsInParallelMode())
		return;

	seal.resyncing = true;
	context_writer = true;
	PG_TRY();
	{
		for (int f = 0; f < GOV_NUM_FIELDS; f++)
		{
			const char *raw = raw_setting((GovField) f);

			context_validated[f] = seal.values[f];
			if (strcmp(raw, seal.values[f]) != 0)
				(void) set_config_option(field_setting_names[f], seal.values[f],
										 PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_LOCAL, true, 0, false);
		}
	}
	PG_FINALLY();
	{
		seal.resyncing = false;
		context_writer = false;
		memset(context_validated, 0, sizeof(context_validated));
	}
	PG_END_TRY();
	seal.need_resync = false;
}

/*
 * Refuse, before they run, the utility commands that would clear a sealed
 * context: RESET / SET ... TO DEFAULT of a governance.* setting, RESET ALL,
 * and DISCARD ALL (which would also fail on its own inside a transaction
 * block, but not with a message that says why).
 */
void
gov_check_utility_against_seal(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;

	/*
	 * Utility commands that start parallel workers themselves (CREATE
	 * INDEX, ALTER TABLE adding one, REINDEX, VACUUM) copy the raw
	 * settings: write the sealed values first.  Not for the commands known
	 * to start none, or only through the executor, whose hook writes them
	 * before a parallel plan: transaction control (the COMMIT of a governed
	 * session), SQL-level PREPARE / EXECUTE / DEALLOCATE, cursors, EXPLAIN,
	 * SET and SHOW.
	 */
	if (stmt == NULL ||
		!(IsA(stmt, TransactionStmt) || IsA(stmt, ExecuteStmt) || IsA(stmt, PrepareStmt) ||
		  IsA(stmt, DeallocateStmt) || IsA(stmt, DeclareCursorStmt) || IsA(stmt, FetchStmt) ||
		  IsA(stmt, ClosePortalStmt) || IsA(stmt, ExplainStmt) ||
		  IsA(stmt, VariableSetStmt) || IsA(stmt, VariableShowStmt)))
		gov_seal_resync();

	if (!seal.sealed || stmt == NULL)
		return;

	if (IsA(stmt, VariableSetStmt))
	{
		VariableSetStmt *vs = (VariableSetStmt *) stmt;

		if (vs->kind == VAR_RESET_ALL)
			report_sealed_command("RESET ALL");
		if ((vs->kind == VAR_RESET || vs->kind == VAR_SET_DEFAULT) &&
			vs->name != NULL)
		{
			for (int f = 0; f < GOV_NUM_FIELDS; f++)
				if (pg_strcasecmp(vs->name, field_setting_names[f]) == 0)
					report_sealed(field_setting_names[f]);
		}
	}
	else if (IsA(stmt, DiscardStmt))
	{
		DiscardStmt *ds = (DiscardStmt *) stmt;

		if (ds->target == DISCARD_ALL)
			report_sealed_command("DISCARD ALL");
	}
}
