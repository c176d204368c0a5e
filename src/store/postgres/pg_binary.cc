#include "store/postgres/pg_binary.h"

#include <cmath>
#include <limits>
#include <pqxx/except>
#include <utility>

namespace tickgraph::store::pg {
namespace {

constexpr std::size_t kCopyChunk = std::size_t{256} * 1024;

// PGCOPY signature, flags (0) and header extension length (0).
constexpr char kCopyHeader[19] = {'P',  'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n',
                                  '\0', 0,   0,   0,   0,   0,   0,    0,      0};

[[noreturn]] void throw_connection_error(PGconn* conn, const std::string& query) {
  std::string message = PQerrorMessage(conn);
  if (PQstatus(conn) == CONNECTION_BAD) throw pqxx::broken_connection(message);
  throw pqxx::sql_error(message, query);
}

// Throws for a result that is neither `expected` nor `also`.
void check_result(PGconn* conn, const PGresult* res, ExecStatusType expected,
                  const std::string& query, ExecStatusType also = PGRES_EMPTY_QUERY) {
  if (res == nullptr) throw_connection_error(conn, query);
  if (PQresultStatus(res) == expected || PQresultStatus(res) == also) return;
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string message = PQresultErrorMessage(res);
  if (message.empty())
    message = std::string("unexpected result: ") + PQresStatus(PQresultStatus(res));
  if (PQstatus(conn) == CONNECTION_BAD) throw pqxx::broken_connection(message);
  throw pqxx::sql_error(message, query, state);
}

}  // namespace

BinaryCopyWriter::BinaryCopyWriter(PGconn* conn, const std::string& copy_sql)
    : conn_(conn), buf_(kCopyChunk) {
  PGresultPtr res(PQexec(conn_, copy_sql.c_str()));
  check_result(conn_, res.get(), PGRES_COPY_IN, copy_sql);
  open_ = true;
  std::memcpy(buf_.data(), kCopyHeader, sizeof kCopyHeader);
  used_ = sizeof kCopyHeader;
}

BinaryCopyWriter::~BinaryCopyWriter() { abort(); }

void BinaryCopyWriter::flush(std::size_t need) {
  if (used_ > 0) {
    if (PQputCopyData(conn_, buf_.data(), static_cast<int>(used_)) != 1) {
      abort();
      throw_connection_error(conn_, "COPY");
    }
    used_ = 0;
  }
  if (buf_.size() < need) buf_.resize(need);
}

std::int64_t BinaryCopyWriter::finish() {
  if (buf_.size() - used_ < 2) flush(2);
  put_be16(&buf_[used_], 0xFFFF);  // file trailer
  used_ += 2;
  flush(0);
  open_ = false;
  if (PQputCopyEnd(conn_, nullptr) != 1) throw_connection_error(conn_, "COPY");
  PGresultPtr res(PQgetResult(conn_));
  // Drain: a COPY yields one result, then nullptr.
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  check_result(conn_, res.get(), PGRES_COMMAND_OK, "COPY");
  const char* tuples = PQcmdTuples(res.get());
  return std::strtoll(tuples, nullptr, 10);
}

void BinaryCopyWriter::abort() noexcept {
  if (!open_) return;
  open_ = false;
  if (PQputCopyEnd(conn_, "aborted by the client") == 1) {
    while (PGresult* res = PQgetResult(conn_)) PQclear(res);
  }
}

void BinaryParams::add(Oid type, std::string bytes, int format, bool is_null) {
  values_.push_back(std::move(bytes));
  types_.push_back(type);
  formats_.push_back(format);
  nulls_.push_back(is_null ? 1 : 0);
}

BinaryParams& BinaryParams::int64(std::int64_t v) {
  std::string bytes(8, '\0');
  put_be64(bytes.data(), static_cast<std::uint64_t>(v));
  add(kInt8Oid, std::move(bytes), 1, false);
  return *this;
}

BinaryParams& BinaryParams::float8(double v) {
  std::string bytes(8, '\0');
  put_be64(bytes.data(), std::bit_cast<std::uint64_t>(v));
  add(kFloat8Oid, std::move(bytes), 1, false);
  return *this;
}

BinaryParams& BinaryParams::text(std::string_view s) {
  add(kTextOid, std::string(s), 0, false);
  return *this;
}

BinaryParams& BinaryParams::null(Oid type) {
  add(type, std::string(), 1, true);
  return *this;
}

void BinaryResult::expect(int col, Oid type) const {
  const Oid actual = col < PQnfields(res_.get()) ? PQftype(res_.get(), col) : 0;
  if (actual != type) {
    throw pqxx::sql_error("result column " + std::to_string(col) + " has type oid " +
                          std::to_string(actual) + ", expected " + std::to_string(type));
  }
}

std::int64_t BinaryResult::affected() const {
  return std::strtoll(PQcmdTuples(res_.get()), nullptr, 10);
}

double BinaryResult::float8_or_nan(int row, int col) const {
  if (is_null(row, col)) return std::numeric_limits<double>::quiet_NaN();
  return float8(row, col);
}

BinaryResult exec_binary(PGconn* conn, const char* sql, const BinaryParams& params) {
  const std::size_t n = params.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = params.value(i);
    lengths[i] = params.length(i);
  }
  PGresultPtr res(PQexecParams(conn, sql, static_cast<int>(n), params.types(), values.data(),
                               lengths.data(), params.formats(), /*resultFormat=*/1));
  check_result(conn, res.get(), PGRES_TUPLES_OK, sql, PGRES_COMMAND_OK);
  return BinaryResult(std::move(res));
}

void exec_command(PGconn* conn, const char* sql) {
  PGresultPtr res(PQexec(conn, sql));
  check_result(conn, res.get(), PGRES_COMMAND_OK, sql);
}

}  // namespace tickgraph::store::pg
