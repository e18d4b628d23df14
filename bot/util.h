/* util — small owned-memory helpers shared by every core module.
 *
 * Owns nothing global. Allocation failure aborts (x* functions): a news bot
 * that cannot allocate a few bytes has no useful way to continue, and checking
 * every strdup would hide the real error paths.
 */
#ifndef AINEWS_UTIL_H
#define AINEWS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);           /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable vector of owned strings. Zero-initialised is empty and valid. */
struct strv {
	char **v;
	size_t n, cap;
};
void strv_push(struct strv *sv, const char *s);      /* copies s */
void strv_push_owned(struct strv *sv, char *s);      /* takes s */
void strv_free(struct strv *sv);                     /* frees items, resets to empty */
int strv_contains(const struct strv *sv, const char *s);
int strv_equal(const struct strv *a, const struct strv *b);

/* A growable byte buffer, always NUL-terminated. Zero-initialised is empty. */
struct sbuf {
	char *s;
	size_t len, cap;
};
/* Room for extra more bytes and the NUL (the slow path of the adds). */
void sbuf_grow(struct sbuf *b, size_t extra);
/* The adds are inline: JSON and text assembly call them per piece. */
static inline void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		sbuf_grow(b, n);
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}
static inline void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}
static inline void sbuf_addc(struct sbuf *b, char c)
{
	if (b->len + 2 > b->cap)
		sbuf_grow(b, 1);
	b->s[b->len++] = c;
	b->s[b->len] = 0;
}
/* Room for n more bytes (filled by a read): where they go. sbuf_added()
 * then counts the k of them that were written. */
char *sbuf_room(struct sbuf *b, size_t n);
void sbuf_added(struct sbuf *b, size_t k);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vaddf(struct sbuf *b, const char *fmt, va_list ap);
char *sbuf_take(struct sbuf *b);   /* returns the string ("" if empty), buffer resets */
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);   /* len = 0, keeps memory */

/* Whether the vector paths (AVX-512 F, BW, DQ and VBMI, saved by the OS)
 * may run: the CPU has them and AINEWS_SIMD is not "0". Decided once. */
int cpu_avx512(void);

/* UTF-8. */
int utf8_valid(const char *s, size_t len, size_t *bad_offset);
/* Decode one code point at s (at most len bytes); returns its byte length
 * (>= 1) and stores the code point, or U+FFFD with length 1 on bad input. */
int utf8_decode(const char *s, size_t len, uint32_t *cp);
int utf8_encode(uint32_t cp, char out[4]);
/* Largest byte count <= max that ends on a character boundary of s. */
size_t utf8_clip(const char *s, size_t len, size_t max);
size_t utf8_chars(const char *s, size_t len);
/* True for code points of the CJK ideograph blocks (and CJK punctuation-free). */
int is_cjk(uint32_t cp);

/* Trim ASCII and Unicode spaces (incl. U+3000, U+00A0) in place; returns s. */
char *str_trim(char *s);
int str_starts(const char *s, const char *prefix);

/* Times: Unix seconds <-> "2026-11-22T08:18:00Z". */
void time_iso(int64_t t, char out[32]);
int time_parse_iso(const char *s, int64_t *out);  /* 0 ok, -1 bad */
/* "24h", "7d", "30m", "90s" -> seconds; -1 when malformed. */
int64_t duration_parse(const char *s);

/* Where TLS clients find CA certificates, as OpenSSL's own variables say:
 * SSL_CERT_FILE (a bundle), else SSL_CERT_DIR (a hashed directory), else
 * the system's hashed directory /etc/ssl/certs, else its bundle. A hashed
 * directory is read certificate by certificate as a peer needs one; a
 * bundle is parsed whole (~1.4 MB of memory for Debian's, per client).
 * Returns CA_NONE (leave the library's default), CA_FILE or CA_DIR, with
 * the path (borrowed: environment or a constant) in *path. */
enum { CA_NONE = 0, CA_FILE = 1, CA_DIR = 2 };
int ca_source(const char **path);

/* Read a whole file (max_bytes cap; -2 when larger). 0 ok, -1 errno. */
int file_read(const char *path, size_t max_bytes, char **out, size_t *len);

/* 64-bit FNV-1a, used for content hashes and derived ids. */
uint64_t hash64(const void *data, size_t len, uint64_t seed);
/* A faster 64-bit hash (8 bytes a step, little-endian on every host) for
 * large inputs. Its values are stored (story fingerprints): never change
 * it without a migration that recomputes them. */
uint64_t hash64_fast(const void *data, size_t len, uint64_t seed);

/* Eight bytes as a little-endian integer, and back: one load or store on
 * little-endian hosts; hashes and formats stay the same on every host. */
static inline uint64_t load64le(const void *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	return x;
}

static inline void store64le(void *p, uint64_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	memcpy(p, &x, 8);
}

/* The same for four bytes. */
static inline uint32_t load32le(const void *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap32(x);
#endif
	return x;
}

static inline void store32le(void *p, uint32_t x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	x = __builtin_bswap32(x);
#endif
	memcpy(p, &x, 4);
}

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
 * The search index stores values made with it: never change it without a
 * migration that rebuilds the index. */
static inline uint64_t fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#endif
