# The web UI (web/): `npm run build` (OpenAPI types, type check, Vite) into web/dist, which
# `tickgraph serve` serves at /. Rebuilt when a source, the lock file or a config changes. Needs
# web/node_modules (scripts/bootstrap.sh runs `npm ci` there).
set(TICKGRAPH_WEB_DIR ${CMAKE_SOURCE_DIR}/web)
find_program(NPM_PROGRAM npm)
if(NOT NPM_PROGRAM OR NOT EXISTS ${TICKGRAPH_WEB_DIR}/node_modules)
  message(WARNING "web UI not built: npm or web/node_modules missing (run scripts/bootstrap.sh)")
  set(TICKGRAPH_WEB_BUILT OFF)
  return()
endif()
set(TICKGRAPH_WEB_BUILT ON)

file(GLOB_RECURSE TICKGRAPH_WEB_SOURCES CONFIGURE_DEPENDS
     ${TICKGRAPH_WEB_DIR}/src/*.ts ${TICKGRAPH_WEB_DIR}/src/*.tsx ${TICKGRAPH_WEB_DIR}/src/*.css
     ${TICKGRAPH_WEB_DIR}/src/*.json)
list(FILTER TICKGRAPH_WEB_SOURCES EXCLUDE REGEX "(\\.test\\.tsx?|schema\\.gen\\.ts)$")
add_custom_command(
  OUTPUT ${TICKGRAPH_WEB_DIR}/dist/index.html
  COMMAND ${NPM_PROGRAM} run --silent build
  WORKING_DIRECTORY ${TICKGRAPH_WEB_DIR}
  DEPENDS ${TICKGRAPH_WEB_SOURCES} ${TICKGRAPH_WEB_DIR}/index.html
          ${TICKGRAPH_WEB_DIR}/package-lock.json ${TICKGRAPH_WEB_DIR}/vite.config.ts
          ${TICKGRAPH_WEB_DIR}/tsconfig.json
  COMMENT "Building the web UI (web/dist)"
  VERBATIM)
add_custom_target(web ALL DEPENDS ${TICKGRAPH_WEB_DIR}/dist/index.html)
