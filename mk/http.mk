# HTTP front end (src/http, docs/http.md, tests/integration/http_*.sh, tests/unit/test_http.c,
# bench/http_bench.sh). Only main_session_http.c calls libmicrohttpd; the helpers in
# build/<v>/libhttp.a (sh_format.c, sh_upload.c) use libc and jansson only, so the other
# programs and tests link as before.
EXTRA_LDLIBS_session_http := -lmicrohttpd
