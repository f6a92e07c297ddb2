// input_buffer.hpp - the octets read from one milter connection and not yet handled.
//
// Memory follows the octets actually received, never a length the peer declared: a
// packet header announcing 1 MiB costs nothing until the MiB arrives. The buffer starts at
// `initial` octets and doubles only when a read would have less than `min_read` free
// octets, so its capacity stays below max(initial, 2 x (octets held + min_read)), and never
// above `max`. A peer that announces a large packet and sends four octets of it holds the
// initial buffer.
//
// Memory goes back when it is no longer needed: once everything held has been handled
// (the packet is over), a buffer larger than `keep` returns to `initial`. Buffers of
// kMapFrom octets or more are anonymous mappings (mmap, grown with mremap), not heap
// blocks: their pages cost memory only once read into, and munmap gives them back to the
// system at once. Heap blocks of that size would have been kept by malloc's arenas after
// they were freed (1,000 connections each sent a 1 MiB length left 545 MB resident after
// they closed, with the old std::vector buffer).
//
// Errors: prepare() throws std::bad_alloc when the system has no memory for the growth
// (the caller's loop logs it and that connection goes). Contents are unchanged otherwise.
// Not thread-safe: one connection's handlers use it, on one thread.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace pampero::milter {

class InputBuffer {
  public:
    static constexpr std::size_t kMapFrom = 64 * 1024;  // this size and above: mmap

    InputBuffer(std::size_t initial, std::size_t min_read, std::size_t keep, std::size_t max);
    ~InputBuffer();
    InputBuffer(const InputBuffer&) = delete;
    InputBuffer& operator=(const InputBuffer&) = delete;

    // The octets read and not yet handled.
    std::string_view data() const { return {storage_ + begin_, end_ - begin_}; }
    bool empty() const { return begin_ == end_; }
    // The first n octets of data() are handled.
    void consume(std::size_t n);

    // Room for the next read: at least min_read free octets (fewer only at `max`, where
    // the held octets plus min_read no longer fit: never while a packet of at most
    // max - min_read octets is being read). Moves held octets to the front, grows
    // (doubling), or, when nothing is held, returns to `initial` first if the buffer is
    // larger than `keep`.
    std::span<char> prepare();
    // n octets were read into the front of the span prepare() returned.
    void commit(std::size_t n);

    std::size_t capacity() const { return capacity_; }

  private:
    void reallocate(std::size_t capacity);

    const std::size_t initial_, min_read_, keep_, max_;
    char* storage_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;  // storage_[begin_, end_) is held
    std::size_t end_ = 0;
};

}  // namespace pampero::milter
