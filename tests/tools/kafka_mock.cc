// kafka_mock: a Kafka cluster for tests, hosted by librdkafka's built-in mock cluster in this
// process, so that end-to-end tests need neither a JVM nor real brokers.
//
//   kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
//
// Once the cluster and the topics exist it prints one line, `bootstrap=HOST:PORT,...`, and then
// answers commands read from stdin, one per line, with `ok` or `error: MESSAGE`:
//
//   down ID                       broker ID (1..N) drops its connections and refuses new ones
//   up ID                         broker ID accepts connections again
//   topic NAME:PARTITIONS         creates a topic (replication factor min(3, N))
//   leader NAME PARTITION ID      moves a partition's leadership to broker ID (-1: no leader);
//                                 librdkafka creates NAME (default partition count) if unknown
//   quit                          destroys the cluster and exits 0 (so does EOF on stdin)
//
// SIGTERM and SIGINT also destroy the cluster and exit 0. Bad arguments exit 2; a cluster that
// cannot be created exits 1. The brokers live only as long as this process.
//
// Threads: librdkafka runs the brokers on its own threads; this program's only thread waits in
// poll() on stdin and a signalfd, so a signal is handled between commands, never inside one.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;
constexpr int kMaxBrokers = 32;
constexpr int kMaxPartitions = 1000;
// Kafka's own limit on topic names (longer names cannot be used as directory names by brokers).
constexpr size_t kMaxTopicName = 249;

constexpr const char* kUsage =
    "usage: kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
    "  --brokers N              brokers in the cluster, 1..32 (default 3)\n"
    "  --topic NAME:PARTITIONS  a topic to create before printing the bootstrap line\n"
    "Prints `bootstrap=HOST:PORT,...`, then reads commands from stdin:\n"
    "  down ID | up ID | topic NAME:PARTITIONS | leader NAME PARTITION ID | quit\n";

struct TopicSpec {
  std::string name;
  int partitions = 0;
};

struct Options {
  int brokers = 3;
  std::vector<TopicSpec> topics;
};

std::optional<int> parse_int(std::string_view text, int low, int high) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < low || value > high) {
    return std::nullopt;
  }
  return value;
}

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicName || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Parses NAME:PARTITIONS; on failure returns nullopt and says why in *error.
std::optional<TopicSpec> parse_topic(std::string_view text, std::string* error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = "topic '" + std::string(text) + "' is not NAME:PARTITIONS";
    return std::nullopt;
  }
  const std::string_view name = text.substr(0, colon);
  if (!valid_topic_name(name)) {
    *error = "topic name '" + std::string(name) + "' is not 1..249 characters of [a-zA-Z0-9._-]";
    return std::nullopt;
  }
  const std::optional<int> partitions = parse_int(text.substr(colon + 1), 1, kMaxPartitions);
  if (!partitions) {
    *error = "partition count '" + std::string(text.substr(colon + 1)) + "' of topic '" +
             std::string(name) + "' is not an integer in 1..1000";
    return std::nullopt;
  }
  return TopicSpec{std::string(name), *partitions};
}

// Fills *options from argv; on failure returns false with the reason in *error.
bool parse_options(int argc, char** argv, Options* options, bool* help, std::string* error) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "-h" || arg == "--help") {
      *help = true;
      return true;
    }
    if (arg != "--brokers" && arg != "--topic") {
      *error = "unknown argument '" + std::string(arg) + "'";
      return false;
    }
    if (i + 1 == args.size()) {
      *error = std::string(arg) + " needs a value";
      return false;
    }
    const std::string_view value = args[++i];
    if (arg == "--brokers") {
      const std::optional<int> brokers = parse_int(value, 1, kMaxBrokers);
      if (!brokers) {
        *error = "--brokers '" + std::string(value) + "' is not an integer in 1..32";
        return false;
      }
      options->brokers = *brokers;
    } else {
      std::optional<TopicSpec> topic = parse_topic(value, error);
      if (!topic) return false;
      options->topics.push_back(std::move(*topic));
    }
  }
  return true;
}

// Splits a command line into words separated by spaces or tabs.
std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos < line.size()) {
    const size_t start = line.find_first_not_of(" \t\r", pos);
    if (start == std::string_view::npos) break;
    size_t end = line.find_first_of(" \t\r", start);
    if (end == std::string_view::npos) end = line.size();
    words.push_back(line.substr(start, end - start));
    pos = end;
  }
  return words;
}

// The mock cluster and the client handle it needs for its bookkeeping; destroying the object
// closes every broker's listener.
class MockCluster {
 public:
  // Returns nullptr with the reason in *error when librdkafka cannot create the cluster.
  static std::unique_ptr<MockCluster> create(int brokers, std::string* error) {
    std::array<char, 512> errstr{};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The handle never produces: it exists only because the mock cluster must hang off one.
    // It has no bootstrap list, which librdkafka reports as a notice (level 5) on stderr; level
    // 4 keeps warnings and errors but drops that expected noise.
    if (rd_kafka_conf_set(conf, "log_level", "4", errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      *error = errstr.data();
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    // rd_kafka_new takes ownership of conf only on success.
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr.data(), errstr.size());
    if (rk == nullptr) {
      *error = std::string("cannot create a librdkafka handle: ") + errstr.data();
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    rd_kafka_mock_cluster_t* mcluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (mcluster == nullptr) {
      *error = "librdkafka could not create a mock cluster of " + std::to_string(brokers) +
               " brokers (see its log above)";
      rd_kafka_destroy(rk);
      return nullptr;
    }
    return std::unique_ptr<MockCluster>(new MockCluster(rk, mcluster, brokers));
  }

  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mcluster_);
    rd_kafka_destroy(rk_);
  }

  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mcluster_); }

  int brokers() const { return brokers_; }

  // Each command below returns an empty string on success, else the reason it failed.

  std::string create_topic(const TopicSpec& topic) {
    // Like a small real cluster: three replicas when there are three brokers to hold them.
    const int replication = std::min(3, brokers_);
    return describe(
        rd_kafka_mock_topic_create(mcluster_, topic.name.c_str(), topic.partitions, replication),
        "cannot create topic '" + topic.name + "'");
  }

  std::string set_broker_down(int id) {
    return describe(rd_kafka_mock_broker_set_down(mcluster_, id),
                    "cannot take broker " + std::to_string(id) + " down");
  }

  std::string set_broker_up(int id) {
    return describe(rd_kafka_mock_broker_set_up(mcluster_, id),
                    "cannot bring broker " + std::to_string(id) + " up");
  }

  std::string set_leader(const std::string& topic, int partition, int id) {
    return describe(rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), partition, id),
                    "cannot move the leader of '" + topic + "' [" + std::to_string(partition) +
                        "] to broker " + std::to_string(id));
  }

 private:
  MockCluster(rd_kafka_t* rk, rd_kafka_mock_cluster_t* mcluster, int brokers)
      : rk_(rk), mcluster_(mcluster), brokers_(brokers) {}

  static std::string describe(rd_kafka_resp_err_t err, const std::string& what) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return "";
    return what + ": " + rd_kafka_err2str(err);
  }

  rd_kafka_t* rk_;
  rd_kafka_mock_cluster_t* mcluster_;
  int brokers_;
};

// Runs one command line; returns the answer to print (without the newline). Sets *quit on
// `quit`. Blank lines get no answer, so that a stray newline cannot shift the answers.
std::optional<std::string> execute(MockCluster& cluster, std::string_view line, bool* quit) {
  const std::vector<std::string_view> words = split_words(line);
  if (words.empty()) return std::nullopt;
  const std::string_view command = words[0];
  const auto answer = [](const std::string& failure) {
    return failure.empty() ? std::string("ok") : "error: " + failure;
  };
  const auto broker_id = [&](std::string_view text) {
    return parse_int(text, 1, cluster.brokers());
  };
  const std::string brokers_range = "1.." + std::to_string(cluster.brokers());

  if (command == "quit" && words.size() == 1) {
    *quit = true;
    return "ok";
  }
  if ((command == "down" || command == "up") && words.size() == 2) {
    const std::optional<int> id = broker_id(words[1]);
    if (!id) {
      return "error: broker '" + std::string(words[1]) + "' is not an id in " + brokers_range;
    }
    return answer(command == "down" ? cluster.set_broker_down(*id) : cluster.set_broker_up(*id));
  }
  if (command == "topic" && words.size() == 2) {
    std::string error;
    const std::optional<TopicSpec> topic = parse_topic(words[1], &error);
    if (!topic) return "error: " + error;
    return answer(cluster.create_topic(*topic));
  }
  if (command == "leader" && words.size() == 4) {
    if (!valid_topic_name(words[1])) {
      return "error: '" + std::string(words[1]) + "' is not a topic name";
    }
    const std::optional<int> partition = parse_int(words[2], 0, kMaxPartitions - 1);
    if (!partition) return "error: partition '" + std::string(words[2]) + "' is not a number";
    // -1 is librdkafka's way of making a partition leaderless.
    const std::optional<int> id = words[3] == "-1" ? std::optional<int>(-1) : broker_id(words[3]);
    if (!id) {
      return "error: broker '" + std::string(words[3]) + "' is not -1 or an id in " + brokers_range;
    }
    return answer(cluster.set_leader(std::string(words[1]), *partition, *id));
  }
  return "error: unknown command '" + std::string(line) +
         "' (down ID | up ID | topic NAME:PARTITIONS | leader NAME PARTITION ID | quit)";
}

void print_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  // The test reads answers through a pipe: each must arrive before the next command is sent.
  std::fflush(stdout);
}

// Reads commands until quit, EOF or a termination signal arrives on signal_fd.
void serve_commands(MockCluster& cluster, int signal_fd) {
  std::string pending;
  std::array<char, 4096> buffer{};
  bool quit = false;
  bool eof = false;
  while (!quit && !eof) {
    std::array<pollfd, 2> fds{{{STDIN_FILENO, POLLIN, 0}, {signal_fd, POLLIN, 0}}};
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "kafka_mock: poll failed: %s\n", std::strerror(errno));
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) return;  // SIGTERM or SIGINT: shut down cleanly
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      // A last command without a newline still counts.
      if (!pending.empty()) pending.push_back('\n');
    } else {
      pending.append(buffer.data(), static_cast<size_t>(n));
    }
    size_t newline = 0;
    while (!quit && (newline = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (std::optional<std::string> reply = execute(cluster, line, &quit)) print_line(*reply);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool help = false;
  std::string error;
  if (!parse_options(argc, argv, &options, &help, &error)) {
    std::fprintf(stderr, "kafka_mock: %s\n%s", error.c_str(), kUsage);
    return kExitUsage;
  }
  if (help) {
    std::fputs(kUsage, stdout);
    return 0;
  }

  // Block the termination signals before librdkafka starts its threads (they inherit the mask),
  // so that they are only ever delivered through the signalfd the command loop polls. SIGPIPE is
  // blocked too, and never read: a test that closes our stdout early must not kill us in the
  // middle of destroying the cluster (the write fails with EPIPE instead).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t blocked = signals;
  sigaddset(&blocked, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &blocked, nullptr) != 0) {
    std::fputs("kafka_mock: cannot block SIGTERM\n", stderr);
    return kExitFailure;
  }
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::fprintf(stderr, "kafka_mock: signalfd failed: %s\n", std::strerror(errno));
    return kExitFailure;
  }

  std::unique_ptr<MockCluster> cluster = MockCluster::create(options.brokers, &error);
  if (!cluster) {
    std::fprintf(stderr, "kafka_mock: %s\n", error.c_str());
    return kExitFailure;
  }
  for (const TopicSpec& topic : options.topics) {
    error = cluster->create_topic(topic);
    if (!error.empty()) {
      std::fprintf(stderr, "kafka_mock: %s\n", error.c_str());
      return kExitFailure;
    }
  }
  print_line("bootstrap=" + cluster->bootstraps());

  serve_commands(*cluster, signal_fd);
  cluster.reset();
  close(signal_fd);
  return 0;
}
