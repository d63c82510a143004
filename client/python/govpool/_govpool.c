/*
 * _govpool.c
 *	  CPython binding of libgovpool's non-blocking API: the asyncio driver
 *	  (govpool/__init__.py) polls operations from the event loop's thread.
 *
 * Nothing here blocks: every call maps to a govpool_*_start, govpool_op_poll
 * or govpool_op_cancel, which never wait (see govpool.h for the two
 * documented exceptions: host name resolution and the first TLS step).
 * The GIL is kept throughout: the calls are short and the wake callback
 * must not take it (it runs with a pool lock held, maybe in another thread,
 * and a thread holding the GIL may be waiting for that lock).
 *
 * Wakes: the callback only links the operation onto its pool's wake list
 * under wake_mu and writes the pool's eventfd; the loop reads the eventfd
 * and takes the list (Pool.take_wakes).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "govpool.h"

typedef struct OpObject OpObject;

typedef struct
{
	PyObject_HEAD
	govpool    *pool;
	int			wake_fd;
	pthread_mutex_t wake_mu;
	OpObject   *wake_head;		/* ops woken, not yet taken (borrowed) */
	int			live_ops;
} PoolObject;

struct OpObject
{
	PyObject_HEAD
	PoolObject *pool;			/* strong reference */
	govpool_op *op;
	OpObject   *wake_next;
	int			wake_queued;
};

typedef struct
{
	PyObject_HEAD
	govpool_session *s;
} SessionObject;

static PyTypeObject PoolType;
static PyTypeObject OpType;
static PyTypeObject SessionType;

/* ---- Pool ---- */

typedef struct
{
	PyObject   *overrides;
} env_ctx;

/* Overrides (a dict of variable -> str) first, then the process environment. */
static const char *
override_getenv(const char *name, void *userdata)
{
	env_ctx    *ctx = userdata;

	if (ctx->overrides)
	{
		PyObject   *v = PyDict_GetItemString(ctx->overrides, name);

		if (v && PyUnicode_Check(v))
			return PyUnicode_AsUTF8(v);
	}
	return getenv(name);
}

static int
Pool_init(PoolObject *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"overrides", NULL};
	PyObject   *overrides = NULL;
	govpool_config cfg;
	govpool_error err;
	env_ctx		ctx;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O!", kwlist, &PyDict_Type, &overrides))
		return -1;
	if (self->pool)
	{
		PyErr_SetString(PyExc_RuntimeError, "pool already created");
		return -1;
	}
	ctx.overrides = overrides;
	memset(&err, 0, sizeof(err));
	if (govpool_config_from_getenv(&cfg, override_getenv, &ctx, &err) != GOVPOOL_OK)
	{
		PyObject   *e = Py_BuildValue("(iss)", (int) err.kind, err.sqlstate, err.message);

		if (e)
		{
			PyErr_SetObject(PyExc_ValueError, e);
			Py_DECREF(e);
		}
		return -1;
	}
	self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (self->wake_fd < 0)
	{
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	/* govpool_create may open one connection (GOVPOOL_EXTENSIONS); brief */
	Py_BEGIN_ALLOW_THREADS
	self->pool = govpool_create(&cfg, &err);
	Py_END_ALLOW_THREADS
	if (self->pool == NULL)
	{
		PyErr_NoMemory();
		return -1;
	}
	if (err.kind != GOVPOOL_OK)
	{
		PyObject   *e = Py_BuildValue("(iss)", (int) err.kind, err.sqlstate, err.message);

		govpool_destroy(self->pool);
		self->pool = NULL;
		if (e)
		{
			PyErr_SetObject(PyExc_ValueError, e);
			Py_DECREF(e);
		}
		return -1;
	}
	return 0;
}

static PyObject *
Pool_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	PoolObject *self = (PoolObject *) type->tp_alloc(type, 0);

	(void) args;
	(void) kwds;
	if (self)
	{
		self->wake_fd = -1;
		pthread_mutex_init(&self->wake_mu, NULL);
	}
	return (PyObject *) self;
}

static void
Pool_dealloc(PoolObject *self)
{
	/* every Op holds a reference: none is alive here */
	if (self->pool)
		govpool_destroy(self->pool);
	if (self->wake_fd >= 0)
		close(self->wake_fd);
	pthread_mutex_destroy(&self->wake_mu);
	Py_TYPE(self)->tp_free((PyObject *) self);
}

static int
pool_check(PoolObject *self)
{
	if (self->pool == NULL)
	{
		PyErr_SetString(PyExc_RuntimeError, "govpool: the pool is closed");
		return -1;
	}
	return 0;
}

static PyObject *
Pool_close(PoolObject *self, PyObject *unused)
{
	(void) unused;
	if (self->pool == NULL)
		Py_RETURN_NONE;
	if (self->live_ops > 0)
	{
		PyErr_Format(PyExc_RuntimeError,
					 "govpool: %d operation handle(s) still alive; release them first",
					 self->live_ops);
		return NULL;
	}
	{
		/*
		 * Detached first, under the GIL, so no other call sees a pool being
		 * destroyed; destroyed without the GIL, as it may say goodbye to the
		 * server (one round trip, bounded by connect_timeout).
		 */
		govpool   *pool = self->pool;

		self->pool = NULL;
		Py_BEGIN_ALLOW_THREADS
		govpool_destroy(pool);
		Py_END_ALLOW_THREADS
	}
	Py_RETURN_NONE;
}

static PyObject *
Pool_wake_fd(PoolObject *self, void *closure)
{
	(void) closure;
	return PyLong_FromLong(self->wake_fd);
}

/* Read the eventfd and return the ops woken since the last call. */
static PyObject *
Pool_take_wakes(PoolObject *self, PyObject *unused)
{
	uint64_t	n;
	PyObject   *list = PyList_New(0);
	OpObject   *o;

	(void) unused;
	if (list == NULL)
		return NULL;
	while (read(self->wake_fd, &n, sizeof(n)) > 0)
		;
	pthread_mutex_lock(&self->wake_mu);
	o = self->wake_head;
	self->wake_head = NULL;
	while (o)
	{
		OpObject   *next = o->wake_next;

		o->wake_next = NULL;
		o->wake_queued = 0;
		if (PyList_Append(list, (PyObject *) o) < 0)
		{
			/* keep the rest queued; report the error */
			self->wake_head = next;
			pthread_mutex_unlock(&self->wake_mu);
			Py_DECREF(list);
			return NULL;
		}
		o = next;
	}
	pthread_mutex_unlock(&self->wake_mu);
	return list;
}

static PyObject *
Pool_stats_text(PoolObject *self, PyObject *args)
{
	const char *fmt = "json";
	govpool_format f;
	char		small[4096];
	int			n;

	if (!PyArg_ParseTuple(args, "|s", &fmt))
		return NULL;
	if (pool_check(self) < 0)
		return NULL;
	if (strcmp(fmt, "json") == 0)
		f = GOVPOOL_FORMAT_JSON;
	else if (strcmp(fmt, "prometheus") == 0)
		f = GOVPOOL_FORMAT_PROMETHEUS;
	else if (strcmp(fmt, "text") == 0)
		f = GOVPOOL_FORMAT_TEXT;
	else
	{
		PyErr_Format(PyExc_ValueError, "stats_text: unknown format \"%s\" (json, prometheus or text)", fmt);
		return NULL;
	}
	n = govpool_stats_format(self->pool, f, small, sizeof(small));
	if (n < (int) sizeof(small))
		return PyUnicode_FromStringAndSize(small, n);
	{
		char	   *big = PyMem_Malloc((size_t) n + 1);
		PyObject   *r;

		if (big == NULL)
			return PyErr_NoMemory();
		n = govpool_stats_format(self->pool, f, big, (size_t) n + 1);
		r = PyUnicode_FromStringAndSize(big, n);
		PyMem_Free(big);
		return r;
	}
}

static void on_wake(govpool_op *op, void *userdata);

static PyObject *
Pool_op(PoolObject *self, PyObject *unused)
{
	OpObject   *o;

	(void) unused;
	if (pool_check(self) < 0)
		return NULL;
	o = PyObject_New(OpObject, &OpType);
	if (o == NULL)
		return NULL;
	o->op = govpool_op_create(self->pool);
	if (o->op == NULL)
	{
		o->pool = NULL;
		Py_DECREF(o);
		return PyErr_NoMemory();
	}
	Py_INCREF(self);
	o->pool = self;
	o->wake_next = NULL;
	o->wake_queued = 0;
	self->live_ops++;
	govpool_op_set_wake(o->op, on_wake, o);
	return (PyObject *) o;
}

static PyMethodDef Pool_methods[] = {
	{"close", (PyCFunction) Pool_close, METH_NOARGS, "Destroy the pool (no op handle may be alive)."},
	{"take_wakes", (PyCFunction) Pool_take_wakes, METH_NOARGS, "Ops woken since the last call."},
	{"stats_text", (PyCFunction) Pool_stats_text, METH_VARARGS, "Stats as json, prometheus or text (one line per field)."},
	{"op", (PyCFunction) Pool_op, METH_NOARGS, "A new operation handle."},
	{NULL}
};

static PyGetSetDef Pool_getset[] = {
	{"wake_fd", (getter) Pool_wake_fd, NULL, "eventfd readable when ops were woken", NULL},
	{NULL}
};

static PyTypeObject PoolType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "govpool._govpool.Pool",
	.tp_basicsize = sizeof(PoolObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = Pool_new,
	.tp_init = (initproc) Pool_init,
	.tp_dealloc = (destructor) Pool_dealloc,
	.tp_methods = Pool_methods,
	.tp_getset = Pool_getset,
};

/* ---- Op ---- */

/* Any thread, a pool lock held, maybe no GIL: only take note. */
static void
on_wake(govpool_op *op, void *userdata)
{
	OpObject   *o = userdata;
	PoolObject *p = o->pool;
	uint64_t	one = 1;
	ssize_t		rc;

	(void) op;
	pthread_mutex_lock(&p->wake_mu);
	if (!o->wake_queued)
	{
		o->wake_queued = 1;
		o->wake_next = p->wake_head;
		p->wake_head = o;
	}
	pthread_mutex_unlock(&p->wake_mu);
	rc = write(p->wake_fd, &one, sizeof(one));
	(void) rc;					/* EAGAIN: the counter is already non-zero */
}

static void
Op_dealloc(OpObject *self)
{
	if (self->op)
	{
		govpool_op_destroy(self->op);	/* cancels; no wake after this */
		self->op = NULL;
	}
	if (self->pool)
	{
		PoolObject *p = self->pool;
		OpObject  **pp;

		pthread_mutex_lock(&p->wake_mu);
		for (pp = &p->wake_head; *pp; pp = &(*pp)->wake_next)
			if (*pp == self)
			{
				*pp = self->wake_next;
				break;
			}
		pthread_mutex_unlock(&p->wake_mu);
		p->live_ops--;
		Py_DECREF(p);
	}
	PyObject_Free(self);
}

/* Parameters: a sequence of str or None, as C strings owned by the items. */
static int
get_params(PyObject *seq, PyObject **fast, const char ***out, int *n)
{
	Py_ssize_t	len,
				i;
	const char **vals;

	*fast = PySequence_Fast(seq, "params must be a sequence");
	if (*fast == NULL)
		return -1;
	len = PySequence_Fast_GET_SIZE(*fast);
	if (len > 65535)
	{
		PyErr_SetString(PyExc_ValueError, "too many parameters (at most 65535)");
		return -1;
	}
	vals = PyMem_Calloc((size_t) len + 1, sizeof(char *));
	if (vals == NULL)
	{
		PyErr_NoMemory();
		return -1;
	}
	for (i = 0; i < len; i++)
	{
		PyObject   *it = PySequence_Fast_GET_ITEM(*fast, i);

		if (it == Py_None)
			vals[i] = NULL;
		else if (PyUnicode_Check(it))
		{
			Py_ssize_t	sz;

			vals[i] = PyUnicode_AsUTF8AndSize(it, &sz);
			if (vals[i] == NULL)
				goto fail;
			if ((Py_ssize_t) strlen(vals[i]) != sz)
			{
				PyErr_Format(PyExc_ValueError, "parameter $%zd contains a NUL character", i + 1);
				goto fail;
			}
		}
		else
		{
			PyErr_Format(PyExc_TypeError, "parameter $%zd: expected str or None", i + 1);
			goto fail;
		}
	}
	*out = vals;
	*n = (int) len;
	return 0;
fail:
	PyMem_Free(vals);
	return -1;
}

static PyObject *
start_result(govpool_status st)
{
	return PyLong_FromLong((long) st);
}

static int
op_check(OpObject *self)
{
	if (self->op == NULL || self->pool == NULL || self->pool->pool == NULL)
	{
		PyErr_SetString(PyExc_RuntimeError, "govpool: the pool is closed");
		return -1;
	}
	return 0;
}

static PyObject *
Op_run_start(OpObject *self, PyObject *args)
{
	const char *agent,
			   *tenant,
			   *corr,
			   *sql;
	PyObject   *params,
			   *fast = NULL;
	const char **vals = NULL;
	int			n = 0;
	govpool_context ctx;
	govpool_status st;

	if (!PyArg_ParseTuple(args, "zzzsO", &agent, &tenant, &corr, &sql, &params))
		return NULL;
	if (op_check(self) < 0)
		return NULL;
	if (get_params(params, &fast, &vals, &n) < 0)
	{
		Py_XDECREF(fast);
		return NULL;
	}
	ctx.agent_id = agent;
	ctx.tenant_id = tenant;
	ctx.correlation_id = corr;
	st = govpool_run_start(self->op, &ctx, sql, n, vals);
	PyMem_Free(vals);
	Py_XDECREF(fast);
	return start_result(st);
}

static PyObject *
Op_begin_start(OpObject *self, PyObject *args)
{
	const char *agent,
			   *tenant,
			   *corr;
	int			timeout_ms;
	govpool_context ctx;

	if (!PyArg_ParseTuple(args, "zzzi", &agent, &tenant, &corr, &timeout_ms))
		return NULL;
	if (op_check(self) < 0)
		return NULL;
	ctx.agent_id = agent;
	ctx.tenant_id = tenant;
	ctx.correlation_id = corr;
	return start_result(govpool_begin_start(self->op, &ctx, timeout_ms));
}

static PyObject *
Op_exec_start(OpObject *self, PyObject *args)
{
	SessionObject *s;
	const char *sql;
	PyObject   *params,
			   *fast = NULL;
	const char **vals = NULL;
	int			n = 0;
	govpool_status st;

	if (!PyArg_ParseTuple(args, "O!sO", &SessionType, &s, &sql, &params))
		return NULL;
	if (op_check(self) < 0)
		return NULL;
	if (s->s == NULL)
	{
		PyErr_SetString(PyExc_RuntimeError, "govpool: the session has ended");
		return NULL;
	}
	if (get_params(params, &fast, &vals, &n) < 0)
	{
		Py_XDECREF(fast);
		return NULL;
	}
	st = govpool_exec_start(self->op, s->s, sql, n, vals);
	PyMem_Free(vals);
	Py_XDECREF(fast);
	return start_result(st);
}

/* commit/rollback: the session handle is spent once started. */
static PyObject *
Op_end_start(OpObject *self, PyObject *args, int commit)
{
	SessionObject *s;
	govpool_session *gs;

	if (!PyArg_ParseTuple(args, "O!", &SessionType, &s))
		return NULL;
	if (op_check(self) < 0)
		return NULL;
	gs = s->s;
	s->s = NULL;
	return start_result(commit ? govpool_commit_start(self->op, gs)
						: govpool_rollback_start(self->op, gs));
}

static PyObject *
Op_commit_start(OpObject *self, PyObject *args)
{
	return Op_end_start(self, args, 1);
}

static PyObject *
Op_rollback_start(OpObject *self, PyObject *args)
{
	return Op_end_start(self, args, 0);
}

static PyObject *
Op_health_start(OpObject *self, PyObject *unused)
{
	(void) unused;
	if (op_check(self) < 0)
		return NULL;
	return start_result(govpool_health_start(self->op));
}

/* (state, fd, want_read, want_write, deadline_ns) */
static PyObject *
Op_poll(OpObject *self, PyObject *unused)
{
	govpool_wait w;
	govpool_poll p;

	(void) unused;
	if (op_check(self) < 0)
		return NULL;
	w.fd = -1;
	w.want_read = w.want_write = false;
	w.deadline_ns = -1;
	p = govpool_op_poll(self->op, &w);
	return Py_BuildValue("(iiiiL)", (int) p, w.fd, (int) w.want_read, (int) w.want_write,
						 (long long) w.deadline_ns);
}

static PyObject *
Op_cancel(OpObject *self, PyObject *unused)
{
	(void) unused;
	if (self->op)
		govpool_op_cancel(self->op);
	Py_RETURN_NONE;
}

/* (kind, sqlstate, message) */
static PyObject *
Op_error(OpObject *self, PyObject *unused)
{
	const govpool_error *e;

	(void) unused;
	if (self->op == NULL)
		Py_RETURN_NONE;
	e = govpool_op_error(self->op);
	return Py_BuildValue("(iss)", (int) e->kind, e->sqlstate, e->message);
}

static PyObject *
Op_session(OpObject *self, PyObject *unused)
{
	SessionObject *s;
	govpool_session *gs;

	(void) unused;
	if (self->op == NULL || (gs = govpool_op_session(self->op)) == NULL)
		Py_RETURN_NONE;
	s = PyObject_New(SessionObject, &SessionType);
	if (s == NULL)
		return NULL;
	s->s = gs;
	return (PyObject *) s;
}

/*
 * The finished statement's result: None, or (columns, rows, command_status)
 * with columns a list of (name, type_oid) and rows a list of tuples of
 * str/None (text format; the Python layer converts by type).
 */
static PyObject *
Op_result(OpObject *self, PyObject *unused)
{
	PGresult   *r;
	int			nf,
				nt,
				i,
				j;
	PyObject   *cols = NULL,
			   *rows = NULL,
			   *out = NULL;

	(void) unused;
	if (self->op == NULL || (r = govpool_op_result(self->op)) == NULL)
		Py_RETURN_NONE;
	nf = PQnfields(r);
	nt = PQntuples(r);
	cols = PyList_New(nf);
	rows = PyList_New(nt);
	if (cols == NULL || rows == NULL)
		goto done;
	for (j = 0; j < nf; j++)
	{
		PyObject   *c = Py_BuildValue("(sI)", PQfname(r, j), (unsigned int) PQftype(r, j));

		if (c == NULL)
			goto done;
		PyList_SET_ITEM(cols, j, c);
	}
	for (i = 0; i < nt; i++)
	{
		PyObject   *t = PyTuple_New(nf);

		if (t == NULL)
			goto done;
		PyList_SET_ITEM(rows, i, t);
		for (j = 0; j < nf; j++)
		{
			PyObject   *v;

			if (PQgetisnull(r, i, j))
			{
				Py_INCREF(Py_None);
				v = Py_None;
			}
			else
			{
				v = PyUnicode_DecodeUTF8(PQgetvalue(r, i, j), PQgetlength(r, i, j), "replace");
				if (v == NULL)
					goto done;
			}
			PyTuple_SET_ITEM(t, j, v);
		}
	}
	out = Py_BuildValue("(OOs)", cols, rows, PQcmdStatus(r));
done:
	Py_XDECREF(cols);
	Py_XDECREF(rows);
	PQclear(r);
	return out;
}

static PyMethodDef Op_methods[] = {
	{"run_start", (PyCFunction) Op_run_start, METH_VARARGS, NULL},
	{"begin_start", (PyCFunction) Op_begin_start, METH_VARARGS, NULL},
	{"exec_start", (PyCFunction) Op_exec_start, METH_VARARGS, NULL},
	{"commit_start", (PyCFunction) Op_commit_start, METH_VARARGS, NULL},
	{"rollback_start", (PyCFunction) Op_rollback_start, METH_VARARGS, NULL},
	{"health_start", (PyCFunction) Op_health_start, METH_NOARGS, NULL},
	{"poll", (PyCFunction) Op_poll, METH_NOARGS, NULL},
	{"cancel", (PyCFunction) Op_cancel, METH_NOARGS, NULL},
	{"error", (PyCFunction) Op_error, METH_NOARGS, NULL},
	{"session", (PyCFunction) Op_session, METH_NOARGS, NULL},
	{"result", (PyCFunction) Op_result, METH_NOARGS, NULL},
	{NULL}
};

static PyTypeObject OpType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "govpool._govpool.Op",
	.tp_basicsize = sizeof(OpObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor) Op_dealloc,
	.tp_methods = Op_methods,
};

/* ---- Session: a handle only; the Python layer always ends it ---- */

static void
Session_dealloc(SessionObject *self)
{
	PyObject_Free(self);
}

static PyObject *
Session_alive(SessionObject *self, void *closure)
{
	(void) closure;
	return PyBool_FromLong(self->s != NULL);
}

static PyGetSetDef Session_getset[] = {
	{"alive", (getter) Session_alive, NULL, NULL, NULL},
	{NULL}
};

static PyTypeObject SessionType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "govpool._govpool.SessionHandle",
	.tp_basicsize = sizeof(SessionObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor) Session_dealloc,
	.tp_getset = Session_getset,
};

/* ---- Module ---- */

static PyObject *
mod_status_name(PyObject *mod, PyObject *arg)
{
	long		k = PyLong_AsLong(arg);

	(void) mod;
	if (k == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(govpool_status_name((govpool_status) k));
}

static PyObject *
mod_now_ns(PyObject *mod, PyObject *unused)
{
	(void) mod;
	(void) unused;
	return PyLong_FromLongLong((long long) govpool_now_ns());
}

static PyMethodDef mod_methods[] = {
	{"status_name", mod_status_name, METH_O, NULL},
	{"now_ns", mod_now_ns, METH_NOARGS, NULL},
	{NULL}
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "govpool._govpool",
	"libgovpool's non-blocking API for the asyncio driver in govpool.", -1, mod_methods
};

PyMODINIT_FUNC
PyInit__govpool(void)
{
	PyObject   *m;

	if (PyType_Ready(&PoolType) < 0 || PyType_Ready(&OpType) < 0 ||
		PyType_Ready(&SessionType) < 0)
		return NULL;
	m = PyModule_Create(&moddef);
	if (m == NULL)
		return NULL;
	Py_INCREF(&PoolType);
	if (PyModule_AddObject(m, "Pool", (PyObject *) &PoolType) < 0)
		return NULL;
	PyModule_AddIntConstant(m, "POLL_READING", GOVPOOL_POLL_READING);
	PyModule_AddIntConstant(m, "POLL_WRITING", GOVPOOL_POLL_WRITING);
	PyModule_AddIntConstant(m, "POLL_WAITING", GOVPOOL_POLL_WAITING);
	PyModule_AddIntConstant(m, "POLL_TIMER", GOVPOOL_POLL_TIMER);
	PyModule_AddIntConstant(m, "POLL_OK", GOVPOOL_POLL_OK);
	PyModule_AddIntConstant(m, "POLL_FAILED", GOVPOOL_POLL_FAILED);
	PyModule_AddStringConstant(m, "LIBGOVPOOL_VERSION", GOVPOOL_VERSION);
	return m;
}
