// A paced feed of ticks into Kafka for bench/ingest_latency.py. It is C++ so that the harness
// takes as little as it can of the 2 cores from the system it measures (the Python producer it
// replaces used 0.37 of a core at 50,000 ticks/s).
//
//   tick_feed --brokers B --topic T --symbols S00,S01,… --rate R --warmup W --seconds S
//             [--linger-ms 5] --times FILE
//
// Tick n of a symbol has price 100 + n * 1e-6, size 1 and time = the wall clock when it is
// produced (strictly increasing over the feed); it is keyed by its symbol. The harness and this
// program talk in lines:
//   1. It fetches the topic's metadata, produces tick 0 of every symbol, flushes, and prints
//      "probed".
//   2. It waits for a line on stdin (the harness has seen an update of every symbol).
//   3. It produces `rate` ticks/s (a burst every millisecond, symbols in turn) for `warmup`
//      seconds, prints "window <ns>", goes on for `seconds` more and prints
//      "end <ns> <sent> <elapsed s> <most ticks behind schedule>".
//   4. It flushes, writes the send time (int64 ns, native byte order) of every tick in the
//      order sent to FILE (tick i is symbol i % symbols: the probes first, then in turn), prints
//      "done <not delivered> <failed>" and exits 0. Bad arguments or a dead broker: exit 1.
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ingest/tick_source.h"

namespace {

using namespace tickgraph;
using Clock = std::chrono::steady_clock;

std::atomic<long> failed{0};

void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  (void)rk;
  (void)opaque;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++failed;
}

Timestamp wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Feed {
 public:
  Feed(rd_kafka_t* producer, rd_kafka_topic_t* topic, std::vector<std::string> symbols)
      : producer_(producer), topic_(topic), symbols_(std::move(symbols)), sent_(symbols_.size()) {}

  // Produces the next tick of symbol k, stamped now.
  void send(std::size_t k) {
    const Timestamp now = std::max(wall_now(), last_ + 1);
    last_ = now;
    const ingest::TickRecord t{symbols_[k],
                               {now, 100.0 + static_cast<double>(sent_[k]++) * 1e-6, 1.0}};
    const std::string value = ingest::encode_tick(t, ingest::TickFormat::kProtobuf);
    while (rd_kafka_produce(topic_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                            const_cast<char*>(value.data()), value.size(), t.symbol.data(),
                            t.symbol.size(), nullptr) != 0) {
      rd_kafka_poll(producer_, 1);  // the local queue is full: let deliveries drain it
    }
    times_.push_back(now);
  }

  struct Paced {
    std::size_t sent = 0;
    double elapsed = 0;
    std::size_t behind = 0;
  };

  // `rate` ticks/s for `seconds`, a burst every millisecond, symbols in turn.
  Paced paced(double rate, double seconds) {
    Paced r;
    const auto total = static_cast<std::size_t>(rate * seconds);
    const auto start = Clock::now();
    while (r.sent < total) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const std::size_t due = std::min(total, static_cast<std::size_t>(rate * elapsed) + 1);
      r.behind = std::max(r.behind, due - std::min(due, r.sent));
      while (r.sent < due) {
        send(next_);
        next_ = (next_ + 1) % symbols_.size();
        ++r.sent;
      }
      rd_kafka_poll(producer_, 0);
      const auto next_at =
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(r.sent) / rate));
      const auto pause =
          std::min<Clock::duration>(next_at - Clock::now(), std::chrono::milliseconds(1));
      if (pause > Clock::duration::zero()) std::this_thread::sleep_for(pause);
    }
    r.elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
  }

  const std::vector<Timestamp>& times() const { return times_; }

 private:
  rd_kafka_t* producer_;
  rd_kafka_topic_t* topic_;
  std::vector<std::string> symbols_;
  std::vector<std::int64_t> sent_;  // ticks sent per symbol
  std::vector<Timestamp> times_;
  Timestamp last_ = 0;
  std::size_t next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A paced feed of ticks into Kafka (bench/ingest_latency.py)"};
  std::string brokers;
  std::string topic_name;
  std::vector<std::string> symbols;
  double rate = 50000;
  double warmup = 5;
  double seconds = 20;
  int linger_ms = 5;
  std::string times_path;
  app.add_option("--brokers", brokers)->required();
  app.add_option("--topic", topic_name)->required();
  app.add_option("--symbols", symbols)->required()->delimiter(',');
  app.add_option("--rate", rate)->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup)->check(CLI::NonNegativeNumber);
  app.add_option("--seconds", seconds)->check(CLI::PositiveNumber);
  app.add_option("--linger-ms", linger_ms)->check(CLI::NonNegativeNumber);
  app.add_option("--times", times_path)->required();
  CLI11_PARSE(app, argc, argv);

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", brokers},
      {"linger.ms", std::to_string(linger_ms)},
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "500000"},
      {"acks", "1"},
      {"message.timeout.ms", "30000"},
      {"log_level", "3"},
  };
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::cerr << "tick_feed: " << key << ": " << err << "\n";
      return 1;
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (producer == nullptr) {
    std::cerr << "tick_feed: " << err << "\n";
    return 1;
  }
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer, topic_name.c_str(), nullptr);
  // The topic's leaders first: a produce before them can wait for the broker threads' 1 s idle
  // wake-up (librdkafka 2.0).
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_metadata(producer, 0, topic, &metadata, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::cerr << "tick_feed: no metadata for topic " << topic_name << " within 10 s\n";
    return 1;
  }
  rd_kafka_metadata_destroy(metadata);

  Feed feed(producer, topic, symbols);
  for (std::size_t k = 0; k < symbols.size(); ++k) feed.send(k);
  rd_kafka_flush(producer, 10000);
  std::cout << "probed" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line)) return 1;  // the harness gave up

  (void)feed.paced(rate, warmup);
  std::cout << "window " << wall_now() << std::endl;
  const Feed::Paced measured = feed.paced(rate, seconds);
  std::cout << "end " << wall_now() << " " << measured.sent << " " << measured.elapsed << " "
            << measured.behind << std::endl;

  rd_kafka_flush(producer, 30000);
  const int undelivered = rd_kafka_outq_len(producer);
  std::ofstream out(times_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(feed.times().data()),
            static_cast<std::streamsize>(feed.times().size() * sizeof(Timestamp)));
  out.close();
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(producer);
  if (!out) {
    std::cerr << "tick_feed: cannot write " << times_path << "\n";
    return 1;
  }
  std::cout << "done " << undelivered << " " << failed.load() << std::endl;
  return 0;
}
