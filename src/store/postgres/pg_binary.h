// PostgreSQL's binary formats over libpq, for the store's bulk paths: binary COPY FROM STDIN (no
// text formatting or parsing of doubles on either side) and queries with binary parameters and
// binary results (read straight into columns). libpqxx 6.4 offers neither.
//
// Failures throw libpqxx's exceptions (pqxx::sql_error, pqxx::broken_connection) so that the
// store translates every database error in one place. Not thread-safe: one connection, one thread.
#pragma once

#include <libpq-fe.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tickgraph::store::pg {

// Type OIDs (pg_type.h) of the columns and parameters used here.
inline constexpr Oid kInt8Oid = 20;
inline constexpr Oid kTextOid = 25;
inline constexpr Oid kFloat8Oid = 701;

inline void put_be16(char* p, std::uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline void put_be32(char* p, std::uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void put_be64(char* p, std::uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline std::uint64_t get_be64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// Bytes a field takes in a binary COPY row: its 4-byte length word and its value.
inline constexpr std::size_t kFixedFieldBytes = 4 + 8;  // int8, float8
inline constexpr std::size_t text_field_bytes(std::size_t n) { return 4 + n; }
inline constexpr std::size_t kNullFieldBytes = 4;

// Streams rows to `COPY … FROM STDIN (FORMAT binary)`. Rows are encoded into a buffer that is
// sent in chunks. Destroying the writer before finish() aborts the COPY (the transaction then
// fails, as it must).
class BinaryCopyWriter {
 public:
  // Sends `copy_sql` (a COPY … FROM STDIN (FORMAT binary) statement); throws on failure.
  BinaryCopyWriter(PGconn* conn, const std::string& copy_sql);
  ~BinaryCopyWriter();
  BinaryCopyWriter(const BinaryCopyWriter&) = delete;
  BinaryCopyWriter& operator=(const BinaryCopyWriter&) = delete;

  // Starts a row of `fields` fields; `max_bytes` bounds the bytes they take (kFixedFieldBytes,
  // text_field_bytes()), so that the fields can be appended without further checks.
  void begin_row(std::uint16_t fields, std::size_t max_bytes) {
    if (buf_.size() - used_ < max_bytes + 2) flush(max_bytes + 2);
    put_be16(&buf_[used_], fields);
    used_ += 2;
  }
  void add_int64(std::int64_t v) {
    put_be32(&buf_[used_], 8);
    put_be64(&buf_[used_ + 4], static_cast<std::uint64_t>(v));
    used_ += 12;
  }
  void add_float8(double v) {
    put_be32(&buf_[used_], 8);
    put_be64(&buf_[used_ + 4], std::bit_cast<std::uint64_t>(v));
    used_ += 12;
  }
  void add_null() {
    put_be32(&buf_[used_], 0xFFFFFFFFu);
    used_ += 4;
  }
  // The text must fit in the row's max_bytes.
  void add_text(std::string_view s) {
    put_be32(&buf_[used_], static_cast<std::uint32_t>(s.size()));
    std::memcpy(&buf_[used_ + 4], s.data(), s.size());
    used_ += 4 + s.size();
  }

  // Sends the rest and ends the COPY; returns the number of rows the server copied. Throws
  // pqxx::sql_error with the server's message when the COPY fails (e.g. a key violation).
  std::int64_t finish();

 private:
  // Sends the buffered bytes; makes room for at least `need` bytes.
  void flush(std::size_t need);
  void abort() noexcept;

  PGconn* conn_;
  std::vector<char> buf_;
  std::size_t used_ = 0;
  bool open_ = false;
};

// Owns a PGresult.
struct PGresultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PGresultPtr = std::unique_ptr<PGresult, PGresultDeleter>;

// Parameters sent in binary. Keeps their bytes until the query has run.
class BinaryParams {
 public:
  BinaryParams& int64(std::int64_t v);
  BinaryParams& float8(double v);
  BinaryParams& text(std::string_view s);  // sent as text (format 0) to avoid encoding issues
  BinaryParams& null(Oid type);

  std::size_t size() const { return values_.size(); }
  // libpq's PQexecParams arguments.
  const Oid* types() const { return types_.data(); }
  const int* formats() const { return formats_.data(); }
  const char* value(std::size_t i) const { return nulls_[i] != 0 ? nullptr : values_[i].c_str(); }
  int length(std::size_t i) const { return static_cast<int>(values_[i].size()); }

 private:
  void add(Oid type, std::string bytes, int format, bool is_null);
  std::vector<std::string> values_;
  std::vector<Oid> types_;
  std::vector<int> formats_;
  std::vector<char> nulls_;
};

// A query result in binary format (text columns are their bytes). Column accessors do not check
// types: call expect() once per column first.
class BinaryResult {
 public:
  explicit BinaryResult(PGresultPtr res) : res_(std::move(res)) {}

  int rows() const { return PQntuples(res_.get()); }
  std::int64_t affected() const;  // rows a command inserted, updated or deleted
  // Throws pqxx::sql_error unless column `col` exists and has type `type`.
  void expect(int col, Oid type) const;
  bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }
  std::int64_t int64(int row, int col) const {
    return static_cast<std::int64_t>(get_be64(PQgetvalue(res_.get(), row, col)));
  }
  double float8(int row, int col) const {
    return std::bit_cast<double>(get_be64(PQgetvalue(res_.get(), row, col)));
  }
  // NaN for NULL.
  double float8_or_nan(int row, int col) const;
  std::string_view text(int row, int col) const {
    return {PQgetvalue(res_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(res_.get(), row, col))};
  }

 private:
  PGresultPtr res_;
};

// Runs one statement (a query or a command) with binary results; throws on failure.
BinaryResult exec_binary(PGconn* conn, const char* sql, const BinaryParams& params);
// Runs statements without parameters or results (e.g. session setup); throws on failure.
void exec_command(PGconn* conn, const char* sql);

}  // namespace tickgraph::store::pg
