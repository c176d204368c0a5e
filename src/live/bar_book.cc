#include "live/bar_book.h"

#include <algorithm>
#include <set>

namespace tickgraph::live {

namespace {

Status store_failed(const Status& s) { return s.with_prefix("store: "); }

}  // namespace

BarBook::BarBook(store::Store& store, WriteQueue& writes, std::vector<Interval> intervals)
    : store_(store), writes_(writes), intervals_(std::move(intervals)) {}

BarBook::Loaded BarBook::wanted(std::span<const TickInput> ticks) const {
  Loaded loaded;
  loaded.release_epoch = release_epoch_;
  TickRead* read = nullptr;
  const std::string* previous = nullptr;  // batches come grouped by symbol, mostly
  for (const TickInput& t : ticks) {      // each asset's span
    if (previous == nullptr || *previous != t.symbol) {
      read = &loaded.ticks[t.symbol];
      previous = &t.symbol;
    }
    read->lo = std::min(read->lo, t.tick.time);
    read->hi = std::max(read->hi, t.tick.time);
  }
  for (auto it = loaded.ticks.begin(); it != loaded.ticks.end();) {
    const auto live = assets_.find(it->first);
    if (live == assets_.end() || !live->second.resumed) {
      loaded.assets.try_emplace(it->first);
      it->second.sorted = live == assets_.end() ? 0 : live->second.sorted;
      it->second.id = live == assets_.end() ? 0 : live->second.id;
      it->second.was_live = live != assets_.end();
      ++it;
    } else if (it->second.lo <= live->second.last_time) {
      it->second.was_live = true;
      it->second.id = live->second.id;
      it->second.sorted = live->second.sorted;
      ++it;
    } else {
      it = loaded.ticks.erase(it);  // moves forward: nothing to read
    }
  }
  return loaded;
}

void BarBook::load(Loaded& loaded) const {
  for (auto& [symbol, load] : loaded.assets) {
    auto found = store_.find_asset(symbol);
    if (!found) {
      load.status = found.status();
      continue;
    }
    if (!found->has_value()) {
      load.status = Status::not_found("unknown asset '" + symbol + "'");
      continue;
    }
    load.id = (*found)->id;
    auto resume = read_resume(load.id);
    if (!resume) {
      load.status = resume.status();
      continue;
    }
    load.resume = std::move(*resume);
  }
  for (auto& [symbol, read] : loaded.ticks) {
    if (!read.was_live) {
      auto asset = loaded.assets.find(symbol);
      if (asset == loaded.assets.end() || !asset->second.status.ok()) continue;
      read.id = asset->second.id;
    }
    auto stored = store_.read_ticks(read.id, {read.lo, read.hi});
    if (!stored) continue;
    read.ticks = std::move(*stored);
    read.read = true;
  }
}

Result<BarBook::ResumeData> BarBook::read_resume(std::int64_t id) const {
  ResumeData data;
  const std::set<Interval> intervals(intervals_.begin(), intervals_.end());
  const Interval* finer = nullptr;
  for (const Interval& interval : intervals) {
    ResumeData::Level level;
    auto last = store_.latest_candles(id, interval, 1);
    if (!last) return last.status();
    if (!last->empty()) level.last = last->at(0);
    const Timestamp from =
        last->empty() ? INT64_MIN : last->time.back() + interval_duration(interval);
    if (finer == nullptr) {
      auto ticks = store_.read_ticks(id, {from, INT64_MAX});
      if (!ticks) return ticks.status();
      for (const auto& t : *ticks) level.ticks.push_back({t.time, t.price, t.size});
    } else {
      auto bars = store_.read_candles(id, *finer, {from, INT64_MAX});
      if (!bars) return bars.status();
      level.finer = std::move(*bars);
    }
    data.levels.push_back(std::move(level));
    finer = &interval;
  }
  return data;
}

const BarBook::AssetLoad* BarBook::find_loaded(const Loaded* loaded,
                                               std::string_view symbol) const {
  if (loaded == nullptr || loaded->release_epoch != release_epoch_) return nullptr;
  auto it = loaded->assets.find(symbol);
  return it == loaded->assets.end() ? nullptr : &it->second;
}

Result<BarBook::AssetLive*> BarBook::asset_live(std::string_view symbol, const Loaded* loaded) {
  if (auto it = assets_.find(symbol); it != assets_.end()) return &it->second;
  std::int64_t id = 0;
  if (const AssetLoad* load = find_loaded(loaded, symbol); load != nullptr) {
    if (!load->status.ok()) return load->status;
    id = load->id;
  } else {
    auto found = store_.find_asset(symbol);
    if (!found) return found.status();
    if (!found->has_value()) {
      return Status::not_found("unknown asset '" + std::string(symbol) + "'");
    }
    id = (*found)->id;
  }
  AssetLive live;
  live.id = id;
  reset_aggregators(live);
  return &assets_.emplace(std::string(symbol), std::move(live)).first->second;
}

Result<std::int64_t> BarBook::asset(std::string_view symbol) {
  auto live = asset_live(symbol, nullptr);
  if (!live) return live.status();
  return (*live)->id;
}

void BarBook::adopt(std::string_view symbol, std::int64_t id) {
  if (assets_.contains(symbol)) return;
  AssetLive live;
  live.id = id;
  reset_aggregators(live);
  assets_.emplace(std::string(symbol), std::move(live));
}

BarBook::Mark BarBook::mark(std::string_view symbol) const {
  auto it = assets_.find(symbol);
  if (it == assets_.end()) return {false, 0, release_epoch_};
  return {true, it->second.closed, release_epoch_};
}

void BarBook::reset_aggregators(AssetLive& live) const {
  live.aggregators.clear();
  for (Interval i : intervals_) {
    live.aggregators.emplace(i, CandleAggregator::create(BarRule::time(i)).value());
  }
}

Status BarBook::group(std::span<const TickInput> ticks, ByAsset& by_asset, const Loaded* loaded) {
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    auto group = by_asset.find(ticks[i].symbol);
    if (group == by_asset.end()) {
      auto live = asset_live(ticks[i].symbol, loaded);
      if (!live) {
        const std::string at = "ticks[" + std::to_string(i) + "].symbol";
        if (!live.status().is(StatusCode::kNotFound)) return store_failed(live.status());
        return Status::invalid_argument(at + ": " + live.message())
            .with_field(at)
            .with_detail("index", std::to_string(i));
      }
      group = by_asset.emplace(ticks[i].symbol, std::vector<std::size_t>{}).first;
    }
    group->second.push_back(i);
  }
  return {};
}

Status BarBook::resume(const ByAsset& by_asset, std::vector<ClosedBar>& closed,
                       const Loaded* loaded) {
  for (const auto& [symbol, indexes] : by_asset) {
    auto& live = assets_.find(symbol)->second;
    if (Status s = resume_one(symbol, live, closed, loaded); !s.ok()) {
      reset_aggregators(live);
      return store_failed(s).with_detail("asset", symbol);
    }
  }
  return {};
}

// Intervals go from the finest up: the finest interval's content is the stored ticks after its
// last stored bar; each coarser one's is the finer bars after its own last stored bar (stored,
// rebuilt here, and the finer forming one). The last stored bar is replayed first and dropped, so
// older ticks stay late. Bars that close while the content is replayed were lost by a process that
// stored their ticks and died before storing the bar: they go to `closed`, to be written and fed
// like any closed bar. Reads are bounded by what a dead process left unwritten (normally one bar
// of each interval).
Status BarBook::resume_one(const std::string& symbol, AssetLive& live,
                           std::vector<ClosedBar>& closed, const Loaded* loaded) {
  if (live.resumed) return {};
  const AssetLoad* load = find_loaded(loaded, symbol);
  ResumeData read;
  if (load == nullptr || load->id != live.id) {
    if (Status s = writes_.write_queued(); !s.ok()) return s;  // what it reads must include them
    auto data = read_resume(live.id);
    if (!data) return data.status();
    read = std::move(*data);
    load = nullptr;
  } else if (!load->status.ok()) {
    return load->status;
  }
  const ResumeData& data = load != nullptr ? load->resume : read;
  std::vector<ClosedBar> rebuilt;
  const Interval* finer = nullptr;
  Timestamp last_time = INT64_MIN;
  std::size_t level_index = 0;
  for (auto& [interval, agg] : live.aggregators) {
    const ResumeData::Level& level = data.levels.at(level_index++);
    const Timestamp from = level.last ? level.last->time + interval_duration(interval) : INT64_MIN;
    std::vector<Tick> content;
    if (finer == nullptr) {
      content = level.ticks;
      // The stored ticks are those read, and those of the stored bars (before `from`).
      if (from != INT64_MIN) last_time = from - 1;
      for (const auto& t : level.ticks) last_time = std::max(last_time, t.time);
    } else {
      auto add_bar = [&](const Candle& b) {
        content.push_back({b.time, b.open, b.volume});
        content.push_back({b.time, b.high, 0});
        content.push_back({b.time, b.low, 0});
        content.push_back({b.time, b.close, 0});
      };
      for (std::size_t k = 0; k < level.finer.size(); ++k) add_bar(level.finer.at(k));
      for (const ClosedBar& c : rebuilt) {
        if (c.interval == *finer && c.bar.time >= from) add_bar(c.bar);
      }
      if (auto forming = live.aggregators.at(*finer).forming(); forming && forming->time >= from) {
        add_bar(*forming);
      }
    }
    if (level.last) {
      const Candle& bar = *level.last;
      (void)agg.on_tick({bar.time, bar.open, bar.volume});
      (void)agg.on_tick({bar.time, bar.close, 0});
      (void)agg.flush();
    }
    for (const Tick& t : content) {
      TickOutcome outcome = agg.on_tick(t);
      if (outcome.closed) rebuilt.push_back({symbol, interval, *outcome.closed, live.id});
    }
    finer = &interval;
  }
  live.resumed = true;
  live.last_time = last_time;
  live.closed += rebuilt.size();
  std::stable_sort(rebuilt.begin(), rebuilt.end(),
                   [](const ClosedBar& a, const ClosedBar& b) { return a.bar.time < b.bar.time; });
  closed.insert(closed.end(), rebuilt.begin(), rebuilt.end());
  return {};
}

Status BarBook::sort_out(std::span<const TickInput> ticks, const ByAsset& by_asset,
                         std::vector<bool>& retried, FreshTicks& fresh, IngestCounts& counts,
                         const Loaded* loaded) {
  bool flushed = false;
  for (const auto& [symbol, indexes] : by_asset) {
    AssetLive& live = assets_.find(symbol)->second;
    Timestamp lo = INT64_MAX;
    Timestamp hi = INT64_MIN;
    for (const std::size_t i : indexes) {
      lo = std::min(lo, ticks[i].tick.time);
      hi = std::max(hi, ticks[i].tick.time);
    }
    std::map<Timestamp, std::vector<store::StoredTick>> at_time;  // stored, unmatched
    // Next free seq per time; hashed, since a fresh batch has an entry per tick.
    std::unordered_map<Timestamp, std::int64_t> next_seq;
    next_seq.reserve(indexes.size());
    if (lo <= live.last_time) {
      const TickRead* read = nullptr;
      if (loaded != nullptr && loaded->release_epoch == release_epoch_) {
        auto it = loaded->ticks.find(symbol);
        if (it != loaded->ticks.end() && it->second.read && it->second.id == live.id &&
            it->second.sorted == live.sorted && it->second.lo <= lo && it->second.hi >= hi) {
          read = &it->second;
        }
      }
      std::vector<store::StoredTick> reread;
      if (read == nullptr) {  // not read beforehand, or another batch of the asset came since
        if (!flushed) {
          if (Status s = writes_.flush(); !s.ok()) return store_failed(s);
          flushed = true;
        }
        auto existing = store_.read_ticks(live.id, {lo, hi});
        if (!existing) return store_failed(existing.status()).with_detail("asset", symbol);
        reread = std::move(*existing);
      }
      for (const auto& t : read != nullptr ? read->ticks : reread) {
        at_time[t.time].push_back(t);
        auto& seq = next_seq[t.time];
        seq = std::max(seq, t.seq + 1);
      }
    }
    if (auto reserved = in_flight_seqs_.find(live.id); reserved != in_flight_seqs_.end()) {
      for (const auto& [time, seq] : reserved->second) {
        if (time >= lo && time <= hi) next_seq[time] = std::max(next_seq[time], seq);
      }
    }
    std::vector<store::StoredTick> mine;
    mine.reserve(indexes.size());
    for (const std::size_t i : indexes) {
      const Tick& t = ticks[i].tick;
      if (auto candidates = at_time.find(t.time); candidates != at_time.end()) {
        auto& list = candidates->second;
        const auto same = std::find_if(list.begin(), list.end(), [&](const auto& c) {
          return c.price == t.price && c.size == t.size;
        });
        if (same != list.end()) {
          list.erase(same);
          retried[i] = true;
          ++counts.unchanged;
          continue;
        }
      }
      mine.push_back({t.time, next_seq[t.time]++, t.price, t.size});
    }
    live.last_time = std::max(live.last_time, hi);
    ++live.sorted;
    if (!mine.empty()) fresh.emplace_back(live.id, std::move(mine));
  }
  return {};
}

void BarBook::reserve(const FreshTicks& fresh) {
  for (const auto& [asset_id, asset_ticks] : fresh) {
    auto& reserved = in_flight_seqs_[asset_id];
    for (const auto& t : asset_ticks) reserved[t.time] = std::max(reserved[t.time], t.seq + 1);
  }
}

std::vector<FormingBar> BarBook::apply(std::span<const TickInput> ticks, const ByAsset& by_asset,
                                       const std::vector<bool>& retried,
                                       std::vector<ClosedBar>& closed, IngestCounts& counts) {
  // Per tick, its asset's live state (one lookup per asset, not per tick).
  std::vector<AssetLive*> live_of(ticks.size());
  std::vector<std::pair<std::string_view, AssetLive*>> touched;
  for (const auto& [symbol, indexes] : by_asset) {
    auto it = assets_.find(symbol);
    touched.emplace_back(it->first, &it->second);
    for (const std::size_t i : indexes) live_of[i] = &it->second;
  }
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    if (retried[i]) continue;
    const TickInput& t = ticks[i];
    AssetLive& live = *live_of[i];
    bool late = false;
    std::uint32_t bit = 1;  // per interval, in aggregator order
    for (auto& [interval, agg] : live.aggregators) {
      TickOutcome outcome = agg.on_tick(t.tick);
      if (outcome.verdict == TickVerdict::kLate) {
        late = true;
      } else {
        live.touched |= bit;
        if (outcome.closed) {
          closed.push_back({t.symbol, interval, *outcome.closed, live.id});
          ++live.closed;
        }
      }
      bit <<= 1;
    }
    ++(late ? counts.late : counts.accepted);
  }
  std::vector<FormingBar> changed;
  for (auto& [symbol, live] : touched) {
    std::uint32_t bit = 1;
    for (auto& [interval, agg] : live->aggregators) {
      const bool was_touched = (live->touched & bit) != 0;
      bit <<= 1;
      if (!was_touched) continue;
      if (const auto forming = agg.forming()) changed.push_back({symbol, interval, *forming});
    }
    live->touched = 0;
  }
  return changed;
}

std::vector<ClosedBar> BarBook::close_until(Timestamp now) {
  std::vector<ClosedBar> closed;
  for (auto& [symbol, live] : assets_) {
    for (auto& [interval, agg] : live.aggregators) {
      if (auto bar = agg.close_until(now)) {
        closed.push_back({symbol, interval, *bar, live.id});
        ++live.closed;
      }
    }
  }
  return closed;
}

std::optional<Candle> BarBook::forming(std::string_view symbol, Interval interval) const {
  auto it = assets_.find(symbol);
  if (it == assets_.end()) return std::nullopt;
  auto agg = it->second.aggregators.find(interval);
  return agg == it->second.aggregators.end() ? std::nullopt : agg->second.forming();
}

void BarBook::release(std::span<const std::string> symbols) {
  ++release_epoch_;  // what load() read before this may be older than the store now
  for (const std::string& symbol : symbols) assets_.erase(symbol);
}

}  // namespace tickgraph::live
