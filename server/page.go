package server

// The browser page: the files of web/, embedded in the package,
// index.html at / and the others under /ui/. Its references are relative
// (ui/app.js, and the API from the page's directory), so that it works
// under a host's prefix too. They are served without the API key and
// outside the in-flight cap (they are static and hold no data: the page
// asks for the key and sends it with each API call, with X-Tagseg-Page: 1
// so that a 401 does not make the browser prompt for Basic auth over the
// page).

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"path"
)

//go:embed web
var webFiles embed.FS

// webFS is the embedded web/ directory.
var webFS = func() fs.FS {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err)
	}
	return sub
}()

// The page's routes on the mux.
const (
	routePage = "GET /{$}"
	routeUI   = "GET /ui/{file...}"
)

// pageHeader is the header by which the page's API calls say they come
// from it: their 401s then carry no WWW-Authenticate.
const pageHeader = "X-Tagseg-Page"

// isPageRoute reports whether route serves the page's files.
func isPageRoute(route string) bool { return route == routePage || route == routeUI }

// contentTypes are the types of the page's files, whatever the system's
// MIME table says (one maps .js to application/x-javascript).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// handlePage adds the page's routes, serving the files of web.
func handlePage(m *http.ServeMux, web fs.FS) {
	files := http.StripPrefix("/ui", http.FileServerFS(web))
	m.HandleFunc(routePage, func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w, "index.html")
		http.ServeFileFS(w, r, web, "index.html")
	})
	m.HandleFunc(routeUI, func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == "index.html" {
			// Relative, so that it holds under a host's prefix too.
			w.Header().Set("Location", "../")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		// Files only: no directory listings.
		if fi, err := fs.Stat(web, name); name == "" || err != nil || !fi.Mode().IsRegular() {
			writeError(w, http.StatusNotFound, fmt.Sprintf("No such file: %s", r.URL.Path), "")
			return
		}
		pageHeaders(w, name)
		files.ServeHTTP(w, r)
	})
}

// pageHeaders sets the Content-Type of a file of the page, and asks the
// browser to check for a newer one each time (a new tagseg serves a new
// page at the same path).
func pageHeaders(w http.ResponseWriter, name string) {
	if ct, ok := contentTypes[path.Ext(name)]; ok {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-cache")
}
