#include "pampero/verdict/levels.hpp"

#include <fmt/format.h>

#include "pampero/common/yaml_reader.hpp"

namespace pampero::scan {

const Level* Levels::find(int number) const {
    if (number < 1 || static_cast<std::size_t>(number) > levels.size()) return nullptr;
    return &levels[static_cast<std::size_t>(number - 1)];
}

const Level& Levels::for_user(std::optional<int> number) const {
    if (number) {
        if (const Level* l = find(*number)) return *l;
    }
    return fallback();
}

Result<Levels> load_levels(const std::string& path) {
    Levels out;
    try {
        yaml::MapReader top(path, yaml::load_file(path), "levels file");
        YAML::Node list = top.node("levels");
        if (!list.IsSequence()) yaml::fail(path, top.self(), "'levels' must be a list");
        for (const auto& item : list) {
            const std::string ctx = fmt::format("level #{}", out.levels.size() + 1);
            yaml::MapReader r(path, item, ctx);
            Level l;
            l.number = static_cast<int>(*[&] {
                auto v = r.get_int("level", 1, 100);
                if (!v) yaml::fail(path, item, ctx + ": missing 'level'");
                return v;
            }());
            l.name = r.require_string("name");
            auto tag = r.get_double("tag");
            auto cutoff = r.get_double("cutoff");
            if (!tag || !cutoff) yaml::fail(path, item, ctx + ": needs 'tag' and 'cutoff'");
            l.tag = *tag;
            l.cutoff = *cutoff;
            r.finish();
            if (l.number != static_cast<int>(out.levels.size()) + 1) {
                yaml::fail(path, item,
                           fmt::format("level {}: levels must be numbered 1, 2, 3 ... in order",
                                       l.number));
            }
            if (l.tag >= l.cutoff) {
                yaml::fail(path, item, fmt::format("level {}: tag must be below cutoff", l.number));
            }
            if (!out.levels.empty() &&
                (l.tag > out.levels.back().tag || l.cutoff > out.levels.back().cutoff)) {
                yaml::fail(
                    path, item,
                    fmt::format("level {}: a stricter level cannot have a higher tag or cutoff "
                                "than level {}",
                                l.number, l.number - 1));
            }
            out.levels.push_back(l);
        }
        if (out.levels.size() < kMinLevels) {
            yaml::fail(path, list, fmt::format("at least {} levels are needed", kMinLevels));
        }
        auto def = top.get_int("default", 1, static_cast<std::int64_t>(out.levels.size()));
        if (!def)
            yaml::fail(path, top.self(), "missing 'default' (the level of users without one)");
        out.default_level = static_cast<int>(*def);
        top.finish();
    } catch (const yaml::Error& e) {
        return Error::config(e.what());
    } catch (const YAML::Exception& e) {
        return Error::config(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
    }
    return out;
}

}  // namespace pampero::scan
