// A connection of the HTTP server: its requests read under their timeouts
// and limits, handed to the handler, and their responses sent (in memory,
// from a file, or streamed from a producer thread).
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <thread>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "api/http_server.h"
#include "api/http_server_internal.h"
#include "util/logging.h"
#include "util/mutex.h"

namespace georep::api::http_internal {
namespace {

// A streamed response's producer runs ahead of the client by at most this.
constexpr size_t kStreamBuffer = 1 << 20;
// A file is sent in turns of this many bytes (then other sessions on the
// thread get theirs), and over TLS in blocks of kFileBlock.
constexpr off_t kFileTurn = 16 << 20;
constexpr size_t kFileBlock = 256 << 10;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(Shared& shared, std::string client, Args&&... args)
      : stream_(std::forward<Args>(args)...), shared_(shared), client_(std::move(client)) {}
  ~Session() {
    if (spool_fd_ >= 0) close(spool_fd_);
    shared_.Release(client_);
  }

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Lowest().expires_after(Seconds(self->shared_.options.header_timeout_seconds));
        self->stream_.async_handshake(asio::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return;  // not TLS, or gave up
          self->Read();
        });
      } else {
        self->Read();
      }
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  void Step() { Lowest().expires_after(Seconds(shared_.options.stall_timeout_seconds)); }

  void Read() {
    parser_.emplace();
    body_limit_ = kUnadmittedBodyLimit;
    parser_->body_limit(kUnadmittedBodyLimit);
    Lowest().expires_after(Seconds(shared_.options.header_timeout_seconds));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // The framing is judged on the header, before any body is read: what a
  // proxy in front could frame differently is refused and the connection
  // closed (RFC 9112 §6.1, §6.3), so no second request can be smuggled.
  // Then the route admits the request, or refuses it, before its body.
  void OnHeader(beast::error_code ec) {
    if (ec) {
      // A header the parser refuses (Content-Length with Transfer-Encoding,
      // a bad field) is answered 400 before the close; a connection that
      // ended or timed out is only closed.
      if (ec.category() == http::make_error_code(http::error::bad_version).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        Answer(HttpResponse::Error(400, "BAD_REQUEST",
                                   absl::StrCat("malformed request header: ", ec.message())),
               /*keep_alive=*/false);
        return;
      }
      Close();
      return;
    }
    std::string bad = FramingError(parser_->get());
    if (!bad.empty()) {
      Answer(HttpResponse::Error(400, "BAD_REQUEST", bad), /*keep_alive=*/false);
      return;
    }
    request_ = Head(parser_->get(), client_);
    if (shared_.options.admit) {
      Admission admission;
      try {
        admission = shared_.options.admit(request_);
      } catch (const std::exception& e) {
        admission.refuse = HttpResponse::Error(500, "INTERNAL", "internal error");
      }
      if (admission.refuse) {
        // Its body is never read, so the connection cannot be reused.
        Answer(std::move(*admission.refuse), parser_->is_done() && parser_->get().keep_alive());
        return;
      }
      body_limit_ = admission.body_limit;
      parser_->body_limit(admission.body_limit);
      if (auto length = parser_->content_length(); length && *length > body_limit_) {
        TooLarge();
        return;
      }
      if (admission.spool && !parser_->is_done()) {
        int fd = OpenSpoolFile(shared_.options.spool_dir);
        if (fd < 0) {
          log::Error("no file to receive a request body in",
                     {{"path", request_.path}, {"error", strerror(errno)}});
          Answer(HttpResponse::Error(503, "NO_SPOOL", "no room to receive the request body"),
                 false);
          return;
        }
        spool_fd_ = fd;
        parser_->get().body().fd = fd;
      }
    }
    ReadBody();
  }

  // The body a step at a time, each step timed: a client that stops sending
  // is cut off after the stall timeout, however large the body.
  void ReadBody() {
    if (parser_->is_done()) {
      OnRequest();
      return;
    }
    Step();
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          const auto& body = self->parser_->get().body();
          if (ec == http::error::body_limit || body.size > self->body_limit_) {
            self->TooLarge();
            return;
          }
          if (body.write_errno != 0) {
            log::Error("a request body could not be received on disk",
                       {{"path", self->request_.path}, {"error", strerror(body.write_errno)}});
            self->Answer(HttpResponse::Error(507, "INSUFFICIENT_STORAGE",
                                             absl::StrCat("the request body could not "
                                                          "be stored: ",
                                                          strerror(body.write_errno))),
                         false);
            return;
          }
          if (ec) {
            self->Close();
            return;
          }
          self->ReadBody();
        });
  }

  void TooLarge() {
    Answer(HttpResponse::Error(413, "TOO_LARGE",
                               absl::StrCat("the request body is larger than ", body_limit_,
                                            " bytes, the limit of ", request_.path)),
           false);
  }

  void OnRequest() {
    auto& req = parser_->get();
    if (spool_fd_ >= 0) {
      auto spooled = std::make_shared<SpooledBody>(spool_fd_, req.body().size);
      spool_fd_ = -1;  // the SpooledBody owns it now
      if (!spooled->ok()) {
        Answer(HttpResponse::Error(503, "NO_SPOOL", "the received body could not be mapped"),
               false);
        return;
      }
      request_.spooled = std::move(spooled);
    } else {
      request_.body = std::move(req.body().memory);
    }
    HttpResponse out;
    try {
      out = shared_.handler(request_);
    } catch (const std::exception& e) {
      log::Error("request handler threw", {{"path", request_.path}, {"error", e.what()}});
      out = HttpResponse::Error(500, "INTERNAL", "internal error");
    }
    Answer(std::move(out), req.keep_alive());
    request_ = HttpRequest();
  }

  void Answer(HttpResponse out, bool keep_alive) {
    unsigned version = parser_->get().version();
    if (out.stream) {
      SendStream(std::move(out), keep_alive, version);
      return;
    }
    if (out.file) {
      struct stat st;
      if (fstat(out.file->fd(), &st) == 0 && S_ISREG(st.st_mode)) {
        SendFile(std::move(out), keep_alive, version, st.st_size);
        return;
      }
      out = HttpResponse::Error(404, "FILE_NOT_FOUND", "file not found");
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(out.status), version);
    Prepare(*res, out, keep_alive);
    res->body() = std::move(out.body);
    res->prepare_payload();
    Send(res);
  }

  // A file from its descriptor, with the size it had when answered: the
  // kernel copies it to a plain socket (sendfile); over TLS it goes in
  // blocks of kFileBlock. Each step is timed like any write.
  void SendFile(HttpResponse out, bool keep_alive, unsigned version, off_t size) {
    auto head = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(out.status), version);
    Prepare(*head, out, keep_alive);
    head->content_length(size);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    bool head_only = request_.method == "HEAD";
    Step();
    http::async_write_header(stream_, *sr,
                             [self = this->shared_from_this(), head, sr, file = std::move(out.file),
                              size, head_only](beast::error_code ec, size_t) {
                               if (ec) {
                                 self->Close();
                                 return;
                               }
                               self->file_ = FileSend{};
                               self->file_.file = file;
                               self->file_.size = size;
                               self->file_.offset = head_only ? size : 0;
                               self->file_.keep_alive = head->keep_alive();
                               self->SendFileStep();
                             });
  }

  void SendFileStep() {
    FileSend& f = file_;
    if constexpr (!kTls) {
      auto& socket = Lowest().socket();
      beast::error_code ec;
      socket.native_non_blocking(true, ec);
      if (ec) {
        SendFileBlock();
        return;
      }
      // Up to kFileTurn bytes per turn, so one fast reader cannot hold the
      // I/O thread; then back to the queue.
      off_t turn_end = std::min(f.size, f.offset + kFileTurn);
      while (f.offset < turn_end) {
        ssize_t n = sendfile(socket.native_handle(), f.file->fd(), &f.offset,
                             static_cast<size_t>(turn_end - f.offset));
        if (n > 0) continue;
        if (n == 0) break;  // the file shrank under us: the body cannot be whole
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          WaitWritable();
          return;
        }
        if (errno == EINVAL || errno == ENOSYS) {
          SendFileBlock();  // no sendfile for this file: copy it
          return;
        }
        break;
      }
      if (f.offset < turn_end) {
        Close();
        return;
      }
      if (f.offset < f.size) {
        asio::post(stream_.get_executor(),
                   [self = this->shared_from_this()] { self->SendFileStep(); });
        return;
      }
      FinishFile();
    } else {
      SendFileBlock();
    }
  }

  // A plain socket full: wait until it drains, for at most the stall timeout.
  // (A timer that expired as the wait completed may still be queued: it
  // acts only on the wait it was set for.)
  void WaitWritable() {
    if (!stall_timer_) stall_timer_.emplace(stream_.get_executor());
    const uint64_t wait = ++wait_number_;
    waiting_ = true;
    stall_timer_->expires_after(Seconds(shared_.options.stall_timeout_seconds));
    stall_timer_->async_wait([self = this->shared_from_this(), wait](beast::error_code ec) {
      // Stalled: the wait below fails.
      if (!ec && self->waiting_ && self->wait_number_ == wait) self->Lowest().socket().cancel();
    });
    Lowest().socket().async_wait(tcp::socket::wait_write,
                                 [self = this->shared_from_this()](beast::error_code ec) {
                                   self->waiting_ = false;
                                   self->stall_timer_->cancel();
                                   if (ec) {
                                     self->Close();
                                     return;
                                   }
                                   self->SendFileStep();
                                 });
  }

  void SendFileBlock() {
    FileSend& f = file_;
    if (f.offset >= f.size) {
      FinishFile();
      return;
    }
    if (!f.block) f.block = std::make_shared<std::vector<char>>(kFileBlock);
    size_t want = static_cast<size_t>(std::min<off_t>(f.size - f.offset, kFileBlock));
    ssize_t n;
    do {
      n = pread(f.file->fd(), f.block->data(), want, f.offset);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {  // an error, or the file shrank: the body cannot be whole
      Close();
      return;
    }
    f.offset += n;
    Step();
    asio::async_write(
        stream_, asio::buffer(f.block->data(), static_cast<size_t>(n)),
        [self = this->shared_from_this(), block = f.block](beast::error_code ec, size_t) {
          if (ec) {
            self->Close();
            return;
          }
          self->SendFileBlock();
        });
  }

  void FinishFile() {
    bool keep_alive = file_.keep_alive;
    file_ = FileSend{};
    if (!keep_alive) {
      Close();
      return;
    }
    Read();
  }

  // A chunked body produced by out.stream on a thread of its own: the
  // producer (a git process, a batch of files) fills the pipe and waits
  // while it is full; this session drains it with timed asynchronous writes.
  void SendStream(HttpResponse out, bool keep_alive, unsigned version) {
    bool refused = false;
    {
      MutexLock l(&shared_.mu);
      refused = shared_.stopping || shared_.streams >= shared_.options.max_streams;
      if (!refused) {
        ++shared_.streams;
        pipe_ = std::make_shared<Pipe>();
        auto& pipes = shared_.pipes;
        pipes.erase(std::remove_if(pipes.begin(), pipes.end(), [](auto& w) { return w.expired(); }),
                    pipes.end());
        pipes.push_back(pipe_);
      }
    }
    if (refused) {
      log::Warn("streamed response refused: too many in flight",
                {{"path", request_.path}, {"limit", shared_.options.max_streams}});
      Answer(HttpResponse::Error(503, "BUSY", "too many responses in flight; retry"), false);
      return;
    }
    stream_keep_alive_ = keep_alive;
    auto head = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(out.status), version);
    Prepare(*head, out, keep_alive);
    head->chunked(true);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    {
      MutexLock l(&pipe_->mu);
      pipe_->writing = true;  // the header first; then WriteNext drains
    }
    Step();
    http::async_write_header(
        stream_, *sr, [self = this->shared_from_this(), head, sr](beast::error_code ec, size_t) {
          if (ec) {
            self->pipe_->Fail();
            self->Close();
            return;
          }
          self->WriteNext();
        });
    // The producer keeps the session alive: between writes nothing else
    // may hold it.
    auto kick = [self = this->shared_from_this()] {
      asio::post(self->stream_.get_executor(), [self] { self->WriteNext(); });
    };
    std::thread([producer = std::move(out.stream), pipe = pipe_, kick, &shared = shared_] {
      auto write = [&](absl::string_view piece) {
        bool start = false;
        {
          MutexLock l(&pipe->mu);
          auto room = [&] {
            pipe->mu.AssertReaderHeld();
            return pipe->gone || pipe->buffered < kStreamBuffer;
          };
          pipe->mu.Await(absl::Condition(&room));
          if (pipe->gone) return false;
          if (piece.empty()) return true;
          pipe->chunks.emplace_back(piece);
          pipe->buffered += piece.size();
          start = pipe->StartWriting();
        }
        if (start) kick();
        return true;
      };
      try {
        producer(write);
      } catch (const std::exception& e) {
        log::Error("streamed response threw", {{"error", e.what()}});
        pipe->Fail();
      }
      bool start = false;
      {
        MutexLock l(&pipe->mu);
        pipe->done = true;
        start = pipe->StartWriting();
      }
      if (start) kick();
      MutexLock l(&shared.mu);
      --shared.streams;
    }).detach();
  }

  // On the session's strand: writes the next piece of the pipe, or the last
  // chunk once the producer is done.
  void WriteNext() {
    std::shared_ptr<std::string> piece;
    bool gone = false, last = false;
    {
      MutexLock l(&pipe_->mu);
      if (pipe_->gone) {
        gone = true;
      } else if (!pipe_->chunks.empty()) {
        piece = std::make_shared<std::string>(std::move(pipe_->chunks.front()));
        pipe_->chunks.pop_front();
        pipe_->buffered -= piece->size();
      } else if (pipe_->done) {
        last = true;
      } else {
        pipe_->writing = false;  // the producer's next piece kicks again
        return;
      }
    }
    if (gone) {
      Close();
      return;
    }
    if (last) {
      Step();
      asio::async_write(stream_, http::make_chunk_last(),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          self->pipe_.reset();
                          if (ec || !self->stream_keep_alive_) {
                            self->Close();
                            return;
                          }
                          self->Read();
                        });
      return;
    }
    Step();
    asio::async_write(stream_, http::make_chunk(asio::buffer(*piece)),
                      [self = this->shared_from_this(), piece](beast::error_code ec, size_t) {
                        if (ec) {
                          self->pipe_->Fail();
                          self->Close();
                          return;
                        }
                        self->WriteNext();
                      });
  }

  template <typename Response>
  static void Prepare(Response& res, const HttpResponse& out, bool keep_alive) {
    res.set(http::field::server, "georep");
    res.set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res.set(k, v);
    res.keep_alive(keep_alive);
  }

  // A whole response, a step at a time, each step timed.
  template <typename Response>
  void Send(std::shared_ptr<Response> res) {
    using Serializer = http::response_serializer<typename Response::body_type>;
    auto sr = std::make_shared<Serializer>(*res);
    SendSome(res, sr);
  }

  template <typename Response, typename Serializer>
  void SendSome(std::shared_ptr<Response> res, std::shared_ptr<Serializer> sr) {
    Step();
    http::async_write_some(
        stream_, *sr, [self = this->shared_from_this(), res, sr](beast::error_code ec, size_t) {
          if (ec) {
            self->Close();
            return;
          }
          if (!sr->is_done()) {
            self->SendSome(res, sr);
            return;
          }
          if (res->need_eof()) {
            self->Close();
            return;
          }
          self->Read();
        });
  }

  void Close() {
    if (pipe_) pipe_->Fail();
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  Stream stream_;
  Shared& shared_;
  std::string client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<SpoolBody>> parser_;
  HttpRequest request_;
  uint64_t body_limit_ = kUnadmittedBodyLimit;
  std::shared_ptr<Pipe> pipe_;
  bool stream_keep_alive_ = false;
  int spool_fd_ = -1;  // the body's file while it is being received
  struct FileSend {
    std::shared_ptr<const OpenFile> file;
    off_t offset = 0;
    off_t size = 0;
    bool keep_alive = false;
    std::shared_ptr<std::vector<char>> block;
  };
  FileSend file_;
  std::optional<asio::steady_timer> stall_timer_;
  uint64_t wait_number_ = 0;  // of the latest WaitWritable
  bool waiting_ = false;      // for the socket to take more
};

}  // namespace

void StartSession(Shared& shared, std::string client, tcp::socket socket) {
  if (shared.tls) {
    std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared, client,
                                                                    std::move(socket), *shared.tls)
        ->Run();
  } else {
    std::make_shared<Session<beast::tcp_stream>>(shared, client, std::move(socket))->Run();
  }
}

}  // namespace georep::api::http_internal
